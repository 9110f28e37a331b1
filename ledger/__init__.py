"""Tirelire's ledger: the domain of public money for digital education, event-sourced.

Glossary: one word per concept, never a second meaning.

- **campaign**: a year's EdTech credit opened by the operator: face value per teacher,
  validity window, budget, funders with integer weights.
- **funder**: who pays: the State, a region, a commune… Campaign funders share the budget by
  weight; a local authority that tops up becomes a funder of that account.
- **grant**: the face value credited to one teacher's account from the campaign budget.
- **top-up**: extra credit from a local authority, typed (commune, département, région).
- **credit account**: one teacher's credit in one campaign; its money is *available*,
  *held*, *captured* or *returned*.
- **hold**: credit set aside for an order at a vendor. A hold is *pending* until it ends,
  once: *captured* (in full or in part), *released*, or *expired*.
- **refund**: money of a captured hold coming back from the vendor.
- **expiry** (year-end): the unspent remainder *returned* to the funders pro rata.
- **key**: the client's idempotency key of a command; ids of what it creates derive from it.
- **digest**: a hash of a command's payload, recorded with its key to refuse reuse.
- **posting**: a move of cents from one account of the chart to another (double entry).
- **trial balance**: the sum of all balances; zero after every event.
- **group commit**: many commands saved in one transaction by one writer.
- **projection**: a read model folded from the log, with its position kept in the same
  transaction as its rows.
- **vendor**: an EdTech company, known by its SIREN; *applied*, then *approved* or
  *rejected*; an approved vendor may be *suspended* and *reinstated*.
- **bank change**: a vendor's keyed request for new bank details, *pending* until another
  person than its requester approves or rejects it; money only goes to a reviewed IBAN.
- **resource**: what a vendor lists in the catalogue (kind, school levels, price); *listed*,
  *withdrawn*, *relisted*; each change of its terms bumps its **revision**.
- **label**: a mark granted or withdrawn by the labelling committee (« Reconnu d'intérêt
  pédagogique », « Français »), in force from the moment it is recorded.
- **eligibility rule**: which resources a campaign's credit may buy (any listed, or only
  those with given labels; optional caps per kind).
- **evidence**: what a redemption records of its resource: revision, price, labels in force.
- **redemption**: a captured hold as its vendor claims it (net of refunds, with its capture
  time); a hold that names a catalogue resource records its evidence.
- **claim**: a vendor's request to be reimbursed for a set of its redemptions; *submitted*,
  then *approved* or partly *rejected* (each rejected line returned to claimable or
  cancelled), *disputed* within a deadline, *batched*, *paid*. A **marker** per redemption
  keeps it in one claim at a time.
- **reimbursement rule**: time-bounded tiers of rates on a vendor's yearly claimed total.
- **payment batch**: approved claims paid together for one value date, one transfer per vendor.
- **transfer file**: a pain.001 SEPA credit-transfer file: one debtor, many transfers, each
  with an end-to-end id that comes back on the bank statement.
- **statement line**: one booked movement read from the bank's statement (CSV or camt.053).
- **reconciliation**: statement lines against the transfers we expected: *matched*,
  *unmatched* (with a reason), *duplicate*, or *missing*; every line and every expected
  payment lands in exactly one of them.

Device banks (banques solidaires du numérique éducatif):

- **device**: a donated laptop, desktop or tablet, known by its donor and serial number;
  it moves through *stages*: *pledged*, *collected*, *received*, *diagnosed*, *wiped*, then
  *refurbished* or *scrapped* (and *recycled*); a refurbished one is *allocated*,
  *delivered*, and may be *returned*, *repaired* and allocated again.
- **donor**: a company (by its SIRET) or a person (an opaque reference) who *pledges*
  devices; donors need no approval.
- **party**: who gives, holds or receives a device: `company:`, `individual:`,
  `organisation:` or `school:` followed by its identifier.
- **organisation**: a collector, refurbisher or education service, known by its SIRET, that
  acts in a role only while the operator's **approval** for it is in force; an approval is
  *approved* and may be *withdrawn*.
- **handover**: a device passing from one party to another: *handed over*, it awaits the
  receiver, and ends *confirmed* by the receiver or *revoked* by the giver.
- **custody chain**: the spells of a device's holders, each from its confirmed handover to
  the next.
- **lot**: devices that travel together (a collection round, a delivery batch); an action
  on a lot is recorded for all its devices or for none.
- **grade**: the refurbisher's diagnosis of a device: A, B, C or *unfit* (scrapped only).
- **erasure certificate**: the proof of a device's wipe: its method, the certificate's id
  and SHA-256; a device has one.
- **stay**: the time a device spends in one stage, from the event that entered it to the
  one that left it; lead times per stage are taken over stays (`projections.devices`).
- **allocation**: a device destined for a pupil (an opaque id) of a school (its UAI).
- **territory**: a place whose money is accounted for. For the teacher's credit, the area
  of a local authority, `level:code` (`commune:75056`, `departement:974`, `region:11`,
  `ledger.authorities`): a teacher's account records its school's, and an authority tops up
  only the teachers of its own. For the device banks, a territory of the pilot (a metropolis
  or overseas), registered by the operator with its programme budget; a refurbishment or
  repair is *charged* to it, at most 60 € per device.

The universal internet service fund (fonds de service internet universel):

- **telecom operator**: an electronic communications operator, known by its SIREN, that pays
  a levy into the fund (never "the operator", which is Banque des Territoires).
- **period**: the span a rate, a levy or a subsidy covers: `2027`, `2027-S1`, `2027-T3` or
  `2027-09`.
- **rate**: the regulator's (ARCEP) contribution rate for a period, an exact fraction of
  revenue, *decided* once with its reference, its date and the date levies are *due*.
- **levy**: what a telecom operator owes for a period: its *declared* revenue × the rate,
  rounded half up to the cent; *corrected* by the difference a new revenue makes, never
  rewritten; *paid* by transfers matched to it; *overdue* when an amount is outstanding after
  its due date, and a payment received after that date is *late*.
- **fund**: the money the levies paid in, less the subsidies paid out; never below zero.
- **subsidy**: the fund paying up to 100 € of a household's internet connection for a period,
  once, to its provider or to the household, for a pupil a device was delivered to.
- **fingerprint**: a household's keyed HMAC of its normalised name and address; the only
  trace of a household in the books.
- **pledge**: a promise to give, recorded before anything moves: a donor's device, or a
  co-financing funder's money.
- **co-financing**: a device-bank territory's money from three **funder kinds** (the
  operator, local authorities, companies) in a **ratio** (1:1:1); *matched* up to what every
  kind has paid its share of; *spent* only within the matched amount; the unspent part
  *returned* to its funders when it closes.
- **lineage**: the funders whose cents a spend used, (funder, cents) pairs summing to it.
"""
