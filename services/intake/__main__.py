"""`python -m services.intake`."""

import asyncio

from services.intake.service import SPEC
from shared.platform.runtime import serve

if __name__ == "__main__":
    asyncio.run(serve(SPEC))
