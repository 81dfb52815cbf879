"""`python -m services.audit`."""

from services.audit.service import SPEC
from shared.platform.runtime import run

if __name__ == "__main__":
    run(SPEC)
