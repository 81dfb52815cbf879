"""`python -m services.routing`."""

from services.routing.service import SPEC
from shared.platform.runtime import run

if __name__ == "__main__":
    run(SPEC)
