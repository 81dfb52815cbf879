"""`python -m services.sla`."""

import asyncio

from services.sla.service import SPEC
from shared.platform.runtime import serve

if __name__ == "__main__":
    asyncio.run(serve(SPEC))
