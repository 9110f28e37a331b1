"""CSV uploads of the device banks: a donor's bulk pledge, a refurbisher's stage updates.

Both files are UTF-8 CSV, comma-separated, with a header line naming the columns (in any
order); lists inside a field are separated by `|`. Unlike the operator's grant file, which
is all or nothing, each line here stands alone: **a bad line is refused and reported, the
good lines of the same file are kept.** The answer is a report, line by line: what was
recorded, and what was refused with its stable code and why. Only a file that cannot be
read as a whole (not UTF-8, no header, an unknown column, more than `MAX_UPLOAD_LINES`
lines) is refused whole (422), and then nothing is recorded.

Sending the same file again is a retry: a device already pledged alike, or a stage update
already recorded, records nothing and is reported as before, so a retry answers the same
report (a line refused because of the state of a device may pass once that state moves).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from api import device_examples as e
from api import device_views as v
from api import schemas as s
from api.common import body_uuid
from api.devices_api import WORK_FIELDS, do_work
from api.parties import caller_party
from api.spec import Call, Operation, Reply, Role
from ledger.device_bank import DeviceBank
from ledger.device_records import DeviceDescription, device_id
from ledger.errors import DomainError, IdempotencyKeyReused, InvalidAmount, InvalidInput
from ledger.ids import check_opaque_id
from ledger.parties import check_donor

MAX_UPLOAD_LINES = 500  # a larger set goes in several files, each under its own key
LIST_SEPARATOR = "|"
PLEDGE_COLUMNS = frozenset({"territory", "kind", "serial_number", "make", "model"})
WORK_COLUMNS = frozenset().union(*(req | opt for req, opt in WORK_FIELDS.values()))
DEVICE_COLUMNS = frozenset({"device_id", "donor", "serial_number"})

Row = dict[str, str]


# Reading a file -------------------------------------------------------------------------


def rows_of(
    raw: bytes, required: frozenset[str], optional: frozenset[str]
) -> list[tuple[int, Row]]:
    """The data lines of a file with their line numbers, each as {column: text}; a line of
    the wrong length is kept, with `None` for its columns, for the caller to refuse."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8 text; nothing was recorded") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next((row for row in reader if row), None)
        if header is None:
            raise InvalidInput("the file is empty; nothing was recorded")
        columns = [name.strip() for name in header]
        check_header(columns, required, optional)
        rows = list(data_lines(reader, columns))
    except csv.Error as error:
        raise file_error(reader.line_num, str(error)) from None
    if not rows:
        raise InvalidInput("the file has a header and no line; nothing was recorded")
    return rows


def data_lines(reader: Any, columns: list[str]) -> Iterator[tuple[int, Row]]:
    count = 0
    for row in reader:
        if not row or not any(field.strip() for field in row):
            continue  # a blank line
        count += 1
        if count > MAX_UPLOAD_LINES:
            raise file_error(reader.line_num, f"a file has at most {MAX_UPLOAD_LINES} lines")
        fields = [f.strip() for f in row] if len(row) == len(columns) else [None] * len(columns)
        yield reader.line_num, dict(zip(columns, fields, strict=True))


def check_header(columns: list[str], required: frozenset[str], optional: frozenset[str]) -> None:
    unknown = [c for c in columns if c not in required | optional]
    if unknown:
        raise file_error(1, f"unknown column {unknown[0]!r}")
    missing = sorted(required - set(columns))
    if missing:
        raise file_error(1, f"missing column {missing[0]!r}")
    if len(set(columns)) != len(columns):
        raise file_error(1, "a column is named twice")


def file_error(line: int, reason: str) -> InvalidInput:
    return InvalidInput(f"line {line}: {reason}; nothing was recorded", line=line)


def line_error(line: int, refusal: DomainError, **about: str) -> dict[str, Any]:
    found = {k: str(refusal.details[k]) for k in ("field", "device_id") if k in refusal.details}
    return {"line": line, "code": refusal.code, "message": refusal.message, **found, **about}


def check_width(row: Row) -> Row:
    if None in row.values():
        raise InvalidInput(f"a line has {len(row)} fields, one per column of the header")
    return row


def listed(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(LIST_SEPARATOR)) if text else ()


# A donor's bulk pledge ------------------------------------------------------------------


def description_of(row: Row) -> DeviceDescription:
    specs = []
    for item in listed(row.get("specs") or ""):
        name, equals, value = item.partition("=")
        if not equals:
            raise InvalidInput("specs are name=value pairs separated by |", field="specs")
        specs.append((name.strip(), value))
    fields = (row["kind"], row["serial_number"], row["make"], row["model"])
    return DeviceDescription(*fields, tuple(sorted(specs))).checked()


def pledge_file(bank: DeviceBank, donor: str, raw: bytes, by: str, now: datetime) -> dict:
    """Blocking: pledge each good line of the file, by territory; report every line."""
    rows = rows_of(raw, PLEDGE_COLUMNS, frozenset({"specs"}))
    errors: dict[int, dict[str, Any]] = {}
    by_territory: dict[str, list[tuple[int, DeviceDescription]]] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        try:
            description = description_of(check_width(row))
            territory = check_opaque_id(row["territory"], "territory code")
            earlier = first_line.setdefault(description.serial_number, line)
            if earlier != line:
                raise InvalidInput(f"this serial number is on line {earlier} already")
        except DomainError as refusal:
            errors[line] = line_error(line, refusal)
            continue
        by_territory.setdefault(territory, []).append((line, description))
    pledged: dict[int, dict[str, Any]] = {}
    for territory, lines in by_territory.items():
        pledge_lines(bank, donor, territory, lines, by, now, pledged, errors)
    return report(len(rows), "pledged", pledged, errors)


def pledge_lines(
    bank: DeviceBank,
    donor: str,
    territory: str,
    lines: list[tuple[int, DeviceDescription]],
    by: str,
    now: datetime,
    pledged: dict[int, dict[str, Any]],
    errors: dict[int, dict[str, Any]],
) -> None:
    """Pledge one territory's lines in one transaction; a device pledged before with other
    details is taken out, reported, and the rest pledged again (at most once per line)."""
    pending = list(lines)
    while pending:
        try:
            ids = bank.pledge_devices(
                donor=donor, territory=territory, devices=[d for _, d in pending], by=by, now=now
            )
        except IdempotencyKeyReused as refusal:
            named = refusal.details.get("device_id")
            culprit = next(
                (p for p in pending if str(device_id(donor, p[1].serial_number)) == named), None
            )
            assert culprit is not None, "the pledge names the device pledged before"
            errors[culprit[0]] = line_error(culprit[0], refusal)
            pending.remove(culprit)
            continue
        except DomainError as refusal:  # the territory itself: every one of its lines
            errors.update({line: line_error(line, refusal) for line, _ in pending})
            return
        for (line, description), new_id in zip(pending, ids, strict=True):
            serial = description.serial_number
            pledged[line] = {"line": line, "serial_number": serial, "device_id": str(new_id)}
        return


def report(lines: int, done: str, recorded: dict, errors: dict) -> dict[str, Any]:
    return {
        "lines": lines,
        done: len(recorded),
        "refused": len(errors),
        "results": [recorded[line] for line in sorted(recorded)],
        "errors": [errors[line] for line in sorted(errors)],
    }


async def upload_pledges(call: Call) -> Reply:
    donor, bank = caller_party(call.caller), call.services.devices
    answer = await call.services.run(
        pledge_file, bank, donor, call.body, call.caller.name, call.now
    )
    return Reply(answer)


# A refurbisher's stage updates ----------------------------------------------------------


def device_of(row: Row) -> UUID:
    """The device a line names: its id, or its donor and serial number."""
    if row.get("device_id"):
        return body_uuid(row["device_id"], "device_id")
    if row.get("donor") and row.get("serial_number"):
        return device_id(check_donor(row["donor"]), row["serial_number"])
    raise InvalidInput("a line names its device_id, or its donor and serial_number")


def work_fields(row: Row) -> tuple[str, dict[str, Any]]:
    """A line's action and the fields it takes, each given once, none left over."""
    action = row["action"]
    if action not in WORK_FIELDS:
        raise InvalidInput(f"an action is one of {', '.join(WORK_FIELDS)}", field="action")
    required, optional = WORK_FIELDS[action]
    given = {k: value for k, value in row.items() if k in WORK_COLUMNS and value}
    missing, extra = sorted(required - set(given)), sorted(set(given) - required - optional)
    if missing:
        raise InvalidInput(f"{action} needs its {missing[0]}", field=missing[0])
    if extra:
        raise InvalidInput(f"{action} takes no {extra[0]}: leave it empty", field=extra[0])
    if "parts" in given:
        given["parts"] = listed(given["parts"])
    if "cost_cents" in given:
        if not given["cost_cents"].isdigit() or len(given["cost_cents"]) > 9:
            raise InvalidAmount("a cost is a whole number of cents", field="cost_cents")
        given["cost_cents"] = int(given["cost_cents"])
    return action, given


def stage_file(bank: DeviceBank, party: str, raw: bytes, by: str, now: datetime) -> dict:
    """Blocking: apply each line in order, each on its own; report every line."""
    rows = rows_of(raw, frozenset({"action"}), WORK_COLUMNS | DEVICE_COLUMNS)
    applied: dict[int, dict[str, Any]] = {}
    errors: dict[int, dict[str, Any]] = {}
    for line, row in rows:
        about: dict[str, str] = {}
        try:
            device = device_of(check_width(row))
            about = {"device_id": str(device)}
            action, fields = work_fields(row)
            do_work(bank, action, device, party, fields, by, now)
        except DomainError as refusal:
            errors[line] = line_error(line, refusal, **about)
            continue
        applied[line] = {"line": line, **about, "action": action}
    return report(len(rows), "applied", applied, errors)


async def upload_stage_updates(call: Call) -> Reply:
    party, bank = caller_party(call.caller), call.services.devices
    answer = await call.services.run(stage_file, bank, party, call.body, call.caller.name, call.now)
    return Reply(answer)


# Operations -----------------------------------------------------------------------------

LINE_ERROR = s.obj(
    {"line": s.COUNT, "code": s.TEXT, "message": {"type": "string"}},
    {"field": {"type": "string"}, "device_id": {"type": "string"}},
)


def report_schema(done: str, result: dict[str, Any]) -> dict[str, Any]:
    return s.obj(
        {
            "lines": s.COUNT,
            done: s.COUNT,
            "refused": s.COUNT,
            "results": s.array(s.obj(result), MAX_UPLOAD_LINES),
            "errors": s.array(LINE_ERROR, MAX_UPLOAD_LINES),
        }
    )


PLEDGE_FILE = (
    b"territory,kind,serial_number,make,model,specs\n"
    b"lyon,laptop,5CG7341XYZ,HP,EliteBook 840 G5,ram_gb=8|storage_gb=256\n"
    b"lyon,tablet,DMPX2LL/A,Apple,iPad 6,\n"
    b"lyon,phone,R58M1234,Samsung,Galaxy A52,\n"
)
STAGE_FILE = (
    "device_id,action,grade,findings,method,certificate_id,certificate_sha256,parts,"
    "cost_cents,reason\n"
    f"{e.DEVICE_ID},diagnose,B,battery at 71 %,,,,,,\n"
    f"{e.DEVICE_ID},wipe,,,crypto_erase,BL-2027-000123,{e.SHA256_EXAMPLE},,,\n"
    f"{e.DEVICE_ID},refurbish,,,,,,battery|keyboard,4500,\n"
    "7d0e4c2b-1a3f-5b6c-9d8e-2f1a0b9c8d7e,scrap,,,,,,,,carte mère hors service\n"
).encode()

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="upload_pledges",
        method="POST",
        path="/v1/device-pledges",
        summary="Pledge many devices from a CSV file: good lines kept, bad ones reported",
        description="A UTF-8 CSV file whose header names the columns `territory`, `kind` "
        "(laptop, desktop, tablet), `serial_number`, `make`, `model` and, optionally, "
        "`specs` (`name=value` pairs separated by `|`: `ram_gb=8|storage_gb=256`). Each "
        "line is one device, pledged by the caller. A bad line (a kind unknown, a serial "
        "number listed twice or pledged before with other details, a territory not "
        "registered) is refused and reported with its line number and code; the good "
        f"lines are pledged. At most {MAX_UPLOAD_LINES} lines per file. The same file "
        "again answers the same report and records nothing new.",
        tag="donor",
        roles=frozenset({Role.DONOR}),
        handler=upload_pledges,
        upload="text/csv",
        response=report_schema(
            "pledged", {"line": s.COUNT, "serial_number": v.SERIAL, "device_id": s.UUID}
        ),
        moves_money=True,
        example_body=PLEDGE_FILE,
        example_response={
            "lines": 3,
            "pledged": 2,
            "refused": 1,
            "results": [
                {"line": 2, "serial_number": "5CG7341XYZ", "device_id": e.DEVICE_ID},
                {
                    "line": 3,
                    "serial_number": "DMPX2LL/A",
                    "device_id": "4f3e2d1c-0b9a-5876-9c5d-4e3f2a1b0c9d",
                },
            ],
            "errors": [
                {
                    "line": 4,
                    "code": "invalid_input",
                    "message": "a device kind is one of laptop, desktop, tablet",
                    "field": "device kind",
                }
            ],
        },
        ownership="token",
    ),
    Operation(
        operation_id="upload_stage_updates",
        method="POST",
        path="/v1/device-stage-updates",
        summary="Record a workshop's work from a CSV file, line by line",
        description="A UTF-8 CSV file, one action per line, applied in order (a device may "
        "be diagnosed, wiped and refurbished on three lines of one file). Its header names "
        "`action` and the device's column: `device_id`, or `donor` and `serial_number`. "
        "An action is one of `diagnose` (`grade`: A, B, C or unfit; `findings` optional), "
        "`wipe` (`method`: overwrite, crypto_erase or physical_destruction; "
        "`certificate_id`; `certificate_sha256`), `refurbish` and `repair` (`cost_cents`; "
        "`parts` separated by `|`), `scrap` (`reason`) or `deliver` (none); other columns "
        "stay empty on its line. Each line is checked as its single endpoint would be (the "
        "device in the caller's custody, at the right stage); a refused line is reported "
        f"with its code, the others are recorded. At most {MAX_UPLOAD_LINES} lines.",
        tag="refurbisher",
        roles=frozenset({Role.REFURBISHER}),
        handler=upload_stage_updates,
        upload="text/csv",
        response=report_schema(
            "applied",
            {"line": s.COUNT, "device_id": s.UUID, "action": s.enum(*WORK_FIELDS)},
        ),
        moves_money=True,
        example_body=STAGE_FILE,
        example_response={
            "lines": 4,
            "applied": 3,
            "refused": 1,
            "results": [
                {"line": line, "device_id": e.DEVICE_ID, "action": action}
                for line, action in ((2, "diagnose"), (3, "wipe"), (4, "refurbish"))
            ],
            "errors": [
                {
                    "line": 5,
                    "code": "not_custodian",
                    "message": "the device is held by organisation:73282932000074, not "
                    "organisation:55210055400013",
                    "device_id": "7d0e4c2b-1a3f-5b6c-9d8e-2f1a0b9c8d7e",
                }
            ],
        },
        ownership="token",
    ),
)
