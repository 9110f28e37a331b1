"""One tree of domain errors, each with a stable snake_case code.

Everything a user can cause raises a `DomainError`; the API maps each family to one HTTP
status and renders the code in an RFC 9457 problem body. Programmer errors are assertions.
Library errors are converted to domain errors `from None` at the edge where they arise.

The tree is one; its classes live by family: `base` (the roots, bad input, not found,
conflicts, access, the store, identifiers, vendors, the catalogue), `payments` (payment
files, statements, claims), `devices` (the device banks), `fund` (the internet fund) and
`audit` (proofs, checkpoints, exports). Everyone imports them from here.
"""

from ledger.errors.audit import *  # noqa: F403
from ledger.errors.base import *  # noqa: F403
from ledger.errors.base import all_error_classes as all_error_classes
from ledger.errors.devices import *  # noqa: F403
from ledger.errors.fund import *  # noqa: F403
from ledger.errors.payments import *  # noqa: F403
