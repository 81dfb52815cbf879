"""`python -m services.mailin`."""

import asyncio

from services.mailin.service import SPEC
from shared.platform.runtime import serve

if __name__ == "__main__":
    asyncio.run(serve(SPEC))
