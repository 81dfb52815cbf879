"""`python -m services.routing`."""

import asyncio

from services.routing.service import SPEC
from shared.platform.runtime import serve

if __name__ == "__main__":
    asyncio.run(serve(SPEC))
