"""PostgreSQL Row-Level Security: centre isolation enforced by the database itself.

The access layer filters every query by the acting user's centre. On PostgreSQL the database enforces the
same scope a second time, so that a query that forgets the filter (a bug in the application, a data query
written by hand through the application's connection) still cannot return or change another centre's rows.

How it works
------------
* Every transaction of the access layer starts with
  ``SELECT set_config('blincompass.user', <name>, true)`` (:func:`blincompass.registry.db.set_acting_user`).
  The third argument ``true`` makes the setting local to the transaction (``SET LOCAL``): it ends with the
  transaction, so a pooled connection never carries one request's user into the next.
* The policies call :data:`ROLE_FN` and :data:`CENTRE_FN`, two ``SECURITY DEFINER`` functions that look the
  user up in ``users``: the database, not the caller, decides the user's role and centre. A user name
  that is not registered (or no name at all) has no role, and every policy is false: nothing is visible.
* Policies, on every patient-data table (the forms), on ``audit`` and on ``imports``:

  ========== =========================================== ===========================================
  role       read (``SELECT``)                           write (``INSERT`` / ``UPDATE`` / ``DELETE``)
  ========== =========================================== ===========================================
  centre     rows of patients of their centre            the same rows (and only into their centre)
  monitor    every row                                   none
  coordinator every row                                  every row
  ========== =========================================== ===========================================

  A form row belongs to the centre of its patient (``patients.centre``); an audit row and a data query
  (``queries``, when the web registry's tables exist) to their ``centre``; a query's message to its
  query's; an import to the centre of the user who made it. Whoever may read a data query may raise or
  answer one (a monitor too); only a coordinator deletes one. New audit and import rows must carry the acting
  user's name (nobody can append to the trail in another user's name); a monitor may append audit rows
  and query messages but change no form row.
* The tables' owner is not subject to the policies (no ``FORCE ROW LEVEL SECURITY``): migrations and
  backups (``pg_dump``) run as the owner. The application never connects as the owner
  (:func:`blincompass.registry.db.app_role_problem` refuses it, and any role with ``BYPASSRLS``).

On SQLite there is no row-level security (whoever can open the file can read it all); the functions here
return no SQL there.
"""

from __future__ import annotations

__all__ = [
    "CENTRE_FN",
    "CENTRE_TABLES",
    "OPTIONAL_TABLES",
    "CHILD_FORMS",
    "KEYS_TAKEN_FN",
    "ROLE_FN",
    "SETTING",
    "function_sql",
    "policy_sql",
]

#: The transaction-local setting naming the acting user (``set_config(SETTING, name, true)``).
SETTING = "blincompass.user"
#: SQL functions returning the acting user's role and centre (NULL when no registered user is set).
ROLE_FN = "blincompass_acting_role"
CENTRE_FN = "blincompass_acting_centre"
#: SQL function: which of the given normalised patient keys are registered, in any centre (see below).
KEYS_TAKEN_FN = "blincompass_patient_keys_taken"
#: Form tables keyed by ``patient_id`` whose centre is their patient's (dictionary 1.0; a migration that
#: adds a form adds its policies with :func:`policy_sql`).
CHILD_FORMS: tuple[str, ...] = ("courses", "assessments", "adverse_events", "outcomes")

#: Tables protected when they exist: the web registry's data queries (migration 0003_web, before this one).
OPTIONAL_TABLES: tuple[str, ...] = ("queries", "query_messages")

_ROLE = f"(SELECT {ROLE_FN}())"
_CENTRE = f"(SELECT {CENTRE_FN}())"  # a sub-select: evaluated once per statement, not once per row


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def function_sql(schema: str) -> tuple[list[str], list[str]]:
    """SQL creating (and dropping) the lookup functions in ``schema`` (PostgreSQL).

    ``SECURITY DEFINER`` with a fixed ``search_path``: they read ``users`` with the owner's rights whatever
    the caller's search path, so the policies keep working if ``users`` itself is ever protected. They are
    not executable by ``PUBLIC``; :func:`blincompass.registry.db.ensure_app_role` grants them to the
    application role.
    """
    sch = _quote_ident(schema)
    setting = f"nullif(current_setting('{SETTING}', true), '')"  # unset: NULL; after a reset: ''
    up: list[str] = []
    down: list[str] = []
    for fn, column in ((ROLE_FN, "role"), (CENTRE_FN, "centre")):
        up.append(
            f"CREATE FUNCTION {sch}.{fn}() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER "
            f"SET search_path = {sch}, pg_temp "
            f"AS $$ SELECT {column}::text FROM {sch}.users WHERE name = {setting} $$"
        )
        up.append(f"REVOKE ALL ON FUNCTION {sch}.{fn}() FROM PUBLIC")
        down.append(f"DROP FUNCTION IF EXISTS {sch}.{fn}()")
    # Patient identifiers are unique across centres (after normalisation), so a centre user's import must
    # learn that a key is taken by a patient it cannot see -- exactly what the unique index would say by
    # refusing the insert, and nothing more (no identifier, no centre).
    up.append(
        f"CREATE FUNCTION {sch}.{KEYS_TAKEN_FN}(keys text[]) RETURNS SETOF text LANGUAGE sql STABLE "
        f"SECURITY DEFINER SET search_path = {sch}, pg_temp "
        f"AS $$ SELECT patient_key FROM {sch}.patients WHERE patient_key = ANY(keys) $$"
    )
    up.append(f"REVOKE ALL ON FUNCTION {sch}.{KEYS_TAKEN_FN}(text[]) FROM PUBLIC")
    down.append(f"DROP FUNCTION IF EXISTS {sch}.{KEYS_TAKEN_FN}(text[])")
    return up, down


#: Tables whose rows carry their centre (``centre`` column): the patients, the audit trail, data queries.
CENTRE_TABLES: tuple[str, ...] = ("patients", "audit", "queries")


def _own_centre(table: str) -> str:
    """The condition 'this row belongs to the acting user's centre' for ``table``."""
    if table in CENTRE_TABLES:
        return f"{table}.centre = {_CENTRE}"
    # Uncorrelated IN sub-selects: PostgreSQL runs each once per statement and probes a hash of its result
    # for every row (a correlated EXISTS would run once per row).
    if table == "query_messages":  # a message of a data query: the query's centre
        return f"query_messages.query_id IN (SELECT q.id FROM queries q WHERE q.centre = {_CENTRE})"
    if table == "imports":
        return f"imports.user_name IN (SELECT u.name FROM users u WHERE u.centre = {_CENTRE})"
    # a form row: its patient's centre
    return f"{table}.patient_id IN (SELECT p.patient_id FROM patients p WHERE p.centre = {_CENTRE})"


def policy_sql(table: str) -> tuple[list[str], list[str]]:
    """SQL enabling row-level security on ``table`` with the registry's policies (and dropping them)."""
    own = _own_centre(table)
    read = f"{_ROLE} IN ('coordinator', 'monitor') OR ({_ROLE} = 'centre' AND {own})"
    write = f"{_ROLE} = 'coordinator' OR ({_ROLE} = 'centre' AND {own})"
    up = [f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
          f"CREATE POLICY {table}_read ON {table} FOR SELECT USING ({read})"]
    if table in ("audit", "imports", "query_messages"):
        # append-only tables (triggers refuse UPDATE and DELETE): insert in one's own name only
        mine = f"{table}.user_name = nullif(current_setting('{SETTING}', true), '')"
        appender = write if table == "imports" else read  # a monitor's data queries go to the trail
        up.append(f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK ({mine} AND ({appender}))")
        names = ("read", "insert")
    elif table == "queries":
        # data queries: whoever sees the patient raises and answers them (a monitor too: the access layer
        # decides who may do what); only a coordinator deletes one
        up += [f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK ({read})",
               f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING ({read}) WITH CHECK ({read})",
               f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING ({_ROLE} = 'coordinator')"]
        names = ("read", "insert", "update", "delete")
    else:
        up += [f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK ({write})",
               f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING ({write}) WITH CHECK ({write})",
               f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING ({write})"]
        names = ("read", "insert", "update", "delete")
    down = [f"DROP POLICY IF EXISTS {table}_{n} ON {table}" for n in names]
    down.append(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    return up, down
