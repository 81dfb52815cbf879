"""`python -m services.notify`."""

import asyncio

from services.notify.service import SPEC
from shared.platform.runtime import serve

if __name__ == "__main__":
    asyncio.run(serve(SPEC))
