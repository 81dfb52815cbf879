"""`python -m services.projections`."""

import asyncio

from services.projections.service import SPEC
from shared.platform.runtime import serve

if __name__ == "__main__":
    asyncio.run(serve(SPEC))
