"""The vendor chain of `tirelire demo`: vendors, the labelled catalogue, claims, payment
batches with their SEPA files, bank statements and debit notes.

Five vendors apply with their SIREN, SIRET and IBAN, and the operator approves them; they
list resources in the catalogue, and the labelling committee labels most of them. Teachers
redeem those resources (`api.demo`). Then each vendor claims its captured redemptions, in
claims of at most `MAX_CLAIM_LINES` lines. The operator rejects two lines, one returned to
claimable (the vendor claims it again later) and one cancelled (the teacher gets the credit
back), approves the claims once the cancelled line's dispute window has closed, and pays them
in a batch: one transfer per vendor, to its reviewed IBAN, in a pain.001 file written to the
current directory. The bank's statement (a CSV export, written here as the bank would send
it, with one line of bank fees that matches no transfer) is reconciled against the batch. A
teacher's refund after the payment raises a debit note on the vendor, and the next batch
deducts it from the vendor's transfer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TextIO
from uuid import UUID

from api.bootstrap import Services
from ledger.claims import (
    CANCEL,
    DISPUTE_WINDOW_DAYS,
    PAYABLE,
    RETURN_TO_CLAIMABLE,
)
from ledger.claims_desk import ClaimsDesk
from ledger.commands import Refund
from ledger.debit_notes import DebitNote
from ledger.eligibility import Label, ResourceKind
from ledger.money import Money
from ledger.reimbursement import MAX_CLAIM_LINES, Redemption
from ledger.sepa import Debtor
from ledger.statements import CSV_COLUMNS
from ledger.vouchers import batched

DAY = timedelta(days=1)
RIP, FR = Label.RECONNU_INTERET_PEDAGOGIQUE, Label.FRANCAIS
STATEMENT_FEE_CENTS = 1250  # the bank's monthly fee: a statement line that is no transfer
REFUNDS_AFTER_PAYMENT = 2

# Legal name, SIREN, SIRET, IBAN: made-up companies whose numbers pass the Luhn and mod-97
# checks (`ledger.identifiers`).
VENDORS = (
    ("Les Petits Savants", "732829320", "73282932000074", "FR7630006000011234567890189"),
    ("Géo Junior", "552100554", "55210055400013", "FR7620041010050500013026052"),
    ("Éditions Lumière Numérique", "812345676", "81234567600017", "FR7610278060000002000140178"),
    ("Code en Classe", "509876546", "50987654600011", "FR7630003036200005012345280"),
    ("Plume et Compas", "390123453", "39012345300016", "FR7618206000106501234567852"),
)
K = ResourceKind
MA, EL, CO, LY = ("maternelle",), ("elementaire",), ("college",), ("lycee",)
# Vendor, reference, title, kind, levels, price, labels, how often teachers pick it.
RESOURCES = (
    (0, "lecture-cp", "Lire au CP", K.DIGITAL_TEXTBOOK, EL, 1990, (RIP, FR), 4),
    (0, "maths-cycle-3", "Maths cycle 3", K.ONLINE_SERVICE, EL + CO, 2400, (RIP, FR), 4),
    (0, "sons-syllabes", "Sons et syllabes", K.SOFTWARE_LICENCE, MA, 1200, (RIP,), 3),
    (1, "geographie-3d", "Géographie en 3D", K.SOFTWARE_LICENCE, CO + LY, 3000, (RIP, FR), 3),
    (1, "atlas", "Atlas interactif", K.ONLINE_SERVICE, EL + CO, 1500, (RIP,), 3),
    (2, "histoire-5e", "Histoire 5e", K.DIGITAL_TEXTBOOK, CO, 2800, (RIP, FR), 3),
    (2, "poesie", "Anthologie de poésie", K.DIGITAL_TEXTBOOK, CO + LY, 900, (), 1),
    (2, "bibliotheque", "Bibliothèque numérique", K.SOFTWARE_LICENCE, LY, 12000, (RIP,), 1),
    (3, "robotique", "Initiation à la robotique", K.TRAINING, CO + LY, 2500, (RIP,), 3),
    (3, "python-lycee", "Python au lycée", K.ONLINE_SERVICE, LY, 1800, (RIP,), 3),
    (4, "geometrie", "Géométrie dynamique", K.SOFTWARE_LICENCE, CO, 1400, (RIP, FR), 3),
    (4, "differencier", "Différencier en classe", K.TRAINING, EL + CO, 3500, (RIP,), 2),
    (4, "calcul-mental", "Jeux de calcul mental", K.OTHER, EL, 600, (), 1),
)


@dataclass(frozen=True)
class Market:
    """The vendors and resources of the demo, by id."""

    vendor_ids: tuple[str, ...]
    names: dict[str, str]  # vendor id → legal name
    resource_ids: tuple[UUID, ...]
    vendor_of: dict[UUID, str]  # resource id → vendor id
    weights: tuple[int, ...]


@dataclass(frozen=True)
class Sale:
    """A captured redemption, as the demo remembers it to claim or refund it later."""

    teacher_id: str
    account_id: UUID
    hold_id: UUID
    vendor_id: str


def open_market(services: Services, now: datetime, out: TextIO) -> Market:
    """Vendors apply and are approved; they list resources; the committee labels them."""
    vendor_ids = tuple(
        str(
            services.vendors.apply_vendor(
                legal_name=name,
                siren=siren,
                siret=siret,
                contact_ref=f"contact-{siren}",
                iban=iban,
                by=f"vendor:{siren}",
                now=now,
            )
        )
        for name, siren, siret, iban in VENDORS
    )
    for vendor_id in vendor_ids:
        services.vendors.approve(UUID(vendor_id), by="operator", now=now + DAY)
    resource_ids = tuple(
        services.catalogue.list_resource(
            vendor_id=vendor_ids[vendor],
            reference=reference,
            title=title,
            description=f"{title} ({kind.value})",
            kind=kind,
            levels=levels,
            price_cents=price_cents,
            by=f"vendor:{VENDORS[vendor][1]}",
            now=now + 2 * DAY,
        )
        for vendor, reference, title, kind, levels, price_cents, _, _ in RESOURCES
    )
    for resource_id, spec in zip(resource_ids, RESOURCES, strict=True):
        grant_labels(services, resource_id, spec[6], now + 10 * DAY)
    print_market(vendor_ids, out)
    return Market(
        vendor_ids=vendor_ids,
        names={vendor_id: spec[0] for vendor_id, spec in zip(vendor_ids, VENDORS, strict=True)},
        resource_ids=resource_ids,
        vendor_of={r: vendor_ids[spec[0]] for r, spec in zip(resource_ids, RESOURCES, strict=True)},
        weights=tuple(spec[7] for spec in RESOURCES),
    )


def grant_labels(
    services: Services, resource_id: UUID, labels: tuple[Label, ...], now: datetime
) -> None:
    # A second demo on the same database finds the labels granted: a decision is made once.
    granted = services.catalogue.get_resource(resource_id).current.labels
    for label in labels:
        if label not in granted:
            services.catalogue.grant_label(
                resource_id,
                label,
                reason="avis favorable du comité",
                decided_on=now.date(),
                by="committee",
                now=now,
            )


def print_market(vendor_ids: tuple[str, ...], out: TextIO) -> None:
    kinds = len({spec[3] for spec in RESOURCES})
    labelled = {label: sum(1 for spec in RESOURCES if label in spec[6]) for label in Label}
    labels = ", ".join(f"{n} « {label.display_name} »" for label, n in labelled.items())
    print(f"Vendors: {len(vendor_ids)} approved (SIREN, SIRET, IBAN checked)", file=out)
    print(f"Catalogue: {len(RESOURCES)} resources of {kinds} kinds; labels: {labels}", file=out)


@dataclass
class Chain:
    """Claims and payments of one demo campaign, and what it claimed so far."""

    services: Services
    campaign_id: UUID
    campaign_key: str
    market: Market
    out: TextIO
    claimed: set[UUID] = field(default_factory=set)  # holds in a claim
    returned: set[UUID] = field(default_factory=set)  # returned to claimable, not yet again
    paid: set[UUID] = field(default_factory=set)  # holds in a claim that was paid
    batches: int = 0

    def suspend(self, vendor_id: str, now: datetime, reason: str) -> None:
        self.services.vendors.suspend(UUID(vendor_id), reason=reason, by="operator", now=now)
        name = self.market.names[vendor_id]
        print(f"{now:%Y-%m-%d}: {name} suspended ({reason}): new orders refused", file=self.out)

    def reinstate(self, vendor_id: str, now: datetime) -> None:
        self.services.vendors.reinstate(UUID(vendor_id), by="operator", now=now)
        print(f"{now:%Y-%m-%d}: {self.market.names[vendor_id]} reinstated", file=self.out)

    def winter_payment(self, sales: Sequence[Sale], rng: random.Random, now: datetime) -> None:
        """Claims, a review with two rejections, approval once the cancelled line's dispute
        window has closed, a batch, then refunds of paid redemptions: debit notes."""
        claims = self.claim(sales, now)
        self.review(claims, now + 2 * DAY)
        approved_at = now + timedelta(days=2 + DISPUTE_WINDOW_DAYS + 1)
        window = f" (the cancelled line's {DISPUTE_WINDOW_DAYS}-day dispute window closed)"
        self.approve(claims, approved_at, window)
        self.pay(claims, approved_at)
        self.refund_paid(sales, rng, approved_at + 7 * DAY)

    def spring_payment(self, sales: Sequence[Sale], now: datetime) -> None:
        """Claims of what is left (the returned line too), approved, paid less the notes."""
        claims = self.claim(sales, now)
        self.approve(claims, now + 2 * DAY)
        self.pay(claims, now + 2 * DAY)

    def claim(self, sales: Sequence[Sale], now: datetime) -> list[UUID]:
        """Each vendor claims what it captured and has not claimed, net of refunds."""
        desk, ledger = self.services.desk, self.services.ledger
        claimable: dict[str, list[Redemption]] = {}
        for sale in sales:
            if sale.hold_id in self.claimed and sale.hold_id not in self.returned:
                continue
            redemption = ledger.redemption(sale.account_id, sale.hold_id)
            if redemption.captured_cents > 0:
                claimable.setdefault(sale.vendor_id, []).append(redemption)
        claims: list[UUID] = []
        for vendor_id, redemptions in sorted(claimable.items()):
            for n, lines in enumerate(batched(redemptions, MAX_CLAIM_LINES)):
                key = f"{self.campaign_key}-{now:%Y%m%d}-{n}"
                claims.append(desk.submit_claim(vendor_id, key, lines, by=vendor_id, now=now))
                self.claimed.update(r.hold_id for r in lines)
                self.returned.difference_update(r.hold_id for r in lines)
        lines = sum(len(r) for r in claimable.values())
        cents = sum(r.captured_cents for rs in claimable.values() for r in rs)
        print(
            f"{now:%Y-%m-%d}: {len(claimable)} vendors claim {lines} redemptions, "
            f"{Money(cents)}, in {len(claims)} claims",
            file=self.out,
        )
        return claims

    def review(self, claims: Sequence[UUID], now: datetime) -> None:
        """Reject two lines of the first claim that has them: one returned, one cancelled."""
        desk = self.services.desk
        claim = next((c for c in map(desk.get_claim, claims) if len(c.lines) >= 2), None)
        if claim is None:
            return
        returned, cancelled = list(claim.lines)[:2]
        rejections = [
            (returned, "facture manquante", RETURN_TO_CLAIMABLE),
            (cancelled, "commande en double", CANCEL),
        ]
        desk.reject_lines(claim.id, key="review", rejections=rejections, by="operator", now=now)
        self.returned.add(returned)
        print(
            f"{now:%Y-%m-%d}: review of a claim of {self.market.names[claim.vendor_id]}: "
            "1 line returned to claimable, 1 cancelled (credit back to its teacher)",
            file=self.out,
        )

    def approve(self, claims: Sequence[UUID], now: datetime, note: str = "") -> None:
        for claim_id in claims:
            self.services.desk.approve_claim(claim_id, by="operator", now=now)
        print(f"{now:%Y-%m-%d}: {len(claims)} claims approved{note}", file=self.out)

    def pay(self, claims: Sequence[UUID], now: datetime) -> UUID | None:
        """Batch the claims that pay something, write the pain.001 file, mark it paid and
        reconcile the bank's statement; answers the batch id (None when nothing is due)."""
        desk = self.services.desk
        payable = [c for c in map(desk.get_claim, claims) if c.payable_cents > 0]
        if not payable:
            return None
        self.batches += 1
        key = f"{self.campaign_key}-batch-{self.batches}"
        value_date = (now + 2 * DAY).date()
        batch_id = desk.create_payment_batch(
            key=key,
            claim_ids=[c.id for c in payable],
            value_date=value_date,
            payees=self.payees({c.vendor_id for c in payable}),
            by="operator",
            now=now,
        )
        path = Path(f"tirelire-{file_name(key)}.xml")
        settings = self.services.settings
        debtor = Debtor(settings.debtor_name, settings.debtor_iban)
        path.write_bytes(desk.payment_file(batch_id, debtor=debtor, created_at=now))
        self.print_batch(batch_id, path)
        paid_at = datetime.combine(value_date, now.timetz())
        reference = f"BQ-{self.batches}-{batch_id.hex[:8].upper()}"
        desk.mark_batch_paid(batch_id, bank_reference=reference, by="bank", now=paid_at)
        self.paid.update(
            h for c in payable for h, line in c.lines.items() if line.status in PAYABLE
        )
        self.reconcile(batch_id, Path(f"tirelire-{file_name(key)}-statement.csv"), paid_at + DAY)
        return batch_id

    def payees(self, vendor_ids: set[str]) -> list[tuple[str, str, str]]:
        """Each vendor's legal name and reviewed IBAN, from the vendor directory."""
        vendors = [self.services.vendors.get_vendor(UUID(v)) for v in sorted(vendor_ids)]
        return [(str(v.id), v.legal_name, v.payable_iban()) for v in vendors]

    def print_batch(self, batch_id: UUID, path: Path) -> None:
        batch = self.services.desk.get_batch(batch_id)
        less = ""
        if batch.debits:
            less = f" less {len(batch.debits)} debit note(s) of {Money(batch.debited_cents)}"
        print(
            f"Batch {self.batches}: {len(batch.claims)} claims, {Money(batch.claims_cents)}"
            f"{less}: {len(batch.transfers())} transfers of {Money(batch.total_cents)} "
            f"on {batch.value_date}; pain.001 file {path}",
            file=self.out,
        )

    def reconcile(self, batch_id: UUID, path: Path, now: datetime) -> None:
        """Write the statement the bank sends for the batch, then read it as an import."""
        path.write_text(bank_statement(self.services.desk, batch_id, now.date()), "utf-8")
        found = self.services.desk.reconcile_statement(
            batch_id, path.read_bytes(), by="operator", now=now
        )
        reasons = ", ".join(sorted({reason for _, reason in found.unmatched}))
        print(
            f"Statement {path}: {len(found.matched)} matched, {len(found.unmatched)} unmatched "
            f"({reasons or 'none'}), {len(found.missing)} missing, "
            f"{len(found.duplicates)} duplicates",
            file=self.out,
        )

    def refund_paid(self, sales: Sequence[Sale], rng: random.Random, now: datetime) -> None:
        """Teachers return resources whose vendors were paid: each refund raises a debit
        note, in the refund's own transaction, that the next batch deducts."""
        desk, ledger = self.services.desk, self.services.ledger
        paid = [s for s in sales if s.hold_id in self.paid]
        chosen = rng.sample(paid, min(REFUNDS_AFTER_PAYMENT, len(paid)))
        for sale in chosen:
            redemption = ledger.redemption(sale.account_id, sale.hold_id)
            desk.refund(
                Refund(
                    campaign_id=self.campaign_id,
                    teacher_id=sale.teacher_id,
                    key=f"return-{sale.hold_id}",
                    by=sale.vendor_id,
                    now=now,
                    hold_id=sale.hold_id,
                    amount_cents=redemption.captured_cents,
                )
            )
        notes = [
            note
            for vendor_id in sorted({s.vendor_id for s in chosen})
            for note in open_notes(self.services, vendor_id)
        ]
        print(
            f"{now:%Y-%m-%d}: {len(chosen)} paid redemptions refunded to teachers: "
            f"{len(notes)} debit notes, {Money(sum(n.debit_cents for n in notes))} owed back",
            file=self.out,
        )


def open_notes(services: Services, vendor_id: str) -> list[DebitNote]:
    notes = services.desk.debit_notes(vendor_id)
    return [] if notes is None else notes.open_notes()


def file_name(key: str) -> str:
    """A key as a file name: a campaign key may hold any printable character."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)


def bank_statement(desk: ClaimsDesk, batch_id: UUID, booked_on: date) -> str:
    """The CSV export of the programme's account for the day the batch left: one debit per
    transfer, as `ledger.statements.read_statement_csv` reads it, and the bank's fee."""
    rows = [";".join(CSV_COLUMNS)]
    for n, payment in enumerate(desk.expected_payments(batch_id), start=1):
        amount = euros_text(-payment.amount_cents)
        reference = f"REL-{booked_on:%Y%m%d}-{n:04d}"
        rows.append(
            f"{booked_on};{amount};EUR;{payment.end_to_end_id};{payment.creditor_iban};{reference}"
        )
    fee = euros_text(-STATEMENT_FEE_CENTS)
    rows.append(f"{booked_on};{fee};EUR;FRAIS TENUE DE COMPTE;;REL-{booked_on:%Y%m%d}-FRAIS")
    return "\n".join(rows) + "\n"


def euros_text(cents: int) -> str:
    """Cents as a French bank writes them in a CSV export: '-1234,56'."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}"
