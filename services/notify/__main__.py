"""`python -m services.notify`."""

from services.notify.service import SPEC
from shared.platform.runtime import run

if __name__ == "__main__":
    run(SPEC)
