"""`python -m services.audit`."""

import asyncio

from services.audit.service import SPEC
from shared.platform.runtime import serve

if __name__ == "__main__":
    asyncio.run(serve(SPEC))
