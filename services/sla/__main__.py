"""`python -m services.sla`."""

from services.sla.service import SPEC
from shared.platform.runtime import run

if __name__ == "__main__":
    run(SPEC)
