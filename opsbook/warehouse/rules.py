"""BigQuery SQL -> DuckDB SQL: sqlglot's transpiler plus a fix pass for the gaps we measured.

    duck_sql, names = transpile(bigquery_sql)   # cached; `names` are the @params the SQL uses

sqlglot (pinned) does most of the work. Each class below fixes one place where DuckDB's result
would differ from BigQuery's documented result after a plain transpile (see
/work/shared/notes/bigquery-duckdb.md). A rule gets the BigQuery-parsed node and returns its
replacement; replacements may be written in DuckDB SQL through `duck()`. Rules see a node only
after its children were fixed, and never see the nodes they produced.
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.bigquery import BigQuery
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

INTEGER_TYPES = {
    exp.DataType.Type.BIGINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.TINYINT,
}
# BigQuery accepts decimal and hex integer strings, with surrounding spaces.
INT_STRING = r"^\s*[+-]?([0-9]+|0[xX][0-9a-fA-F]+)\s*$"
WEEKDAYS = ["SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"]


class TranspileError(ValueError):
    """The SQL is not valid BigQuery SQL, or cannot be expressed in DuckDB."""


def duck(template: str, **nodes: exp.Expr) -> exp.Expr:
    """Parse a DuckDB SQL expression in which {name} stands for the given nodes."""
    tree = sqlglot.parse_one(template.format(**{k: f"__{k}__" for k in nodes}), read="duckdb")
    for column in list(tree.find_all(exp.Column)):
        name = column.name
        if name.startswith("__") and name.endswith("__") and name[2:-2] in nodes:
            replacement = nodes[name[2:-2]].copy()
            if column is tree:
                return replacement
            column.replace(replacement)
    return tree


class Rule:
    """One BigQuery-vs-DuckDB difference. `match` picks nodes; `rewrite` returns the new node."""

    def match(self, node: exp.Expr) -> bool:
        raise NotImplementedError

    def rewrite(self, node: exp.Expr) -> exp.Expr:
        raise NotImplementedError


class IntegerCast(Rule):
    """CAST/SAFE_CAST(x AS INT64). BigQuery refuses the string '3.5' (error / NULL) where DuckDB
    rounds it, and rounds FLOAT64 halfway cases away from zero where DuckDB rounds to even."""

    def match(self, node):
        return (
            isinstance(node, exp.Cast)
            and node.to.this in INTEGER_TYPES
            and not (isinstance(node.this, exp.Literal) and not node.this.is_string)
        )

    def rewrite(self, node):
        cast = "TRY_CAST" if isinstance(node, exp.TryCast) else "CAST"
        sql = (
            "CASE WHEN {x} IS NULL THEN NULL"
            # round() on DOUBLE rounds halfway cases away from zero, like BigQuery
            f" WHEN typeof({{x}}) IN ('DOUBLE', 'FLOAT') THEN {cast}(round(TRY_CAST({{x}} AS DOUBLE)) AS BIGINT)"
            f" WHEN typeof({{x}}) <> 'VARCHAR' OR regexp_full_match(CAST({{x}} AS VARCHAR), '{INT_STRING}')"
            f" THEN {cast}({{x}} AS BIGINT)"
        )
        if cast == "CAST":
            sql += " ELSE error('Bad int64 value: ' || CAST({x} AS VARCHAR))"
        return duck(sql + " END", x=node.this)


class CountIf(Rule):
    """COUNTIF: 0 over no rows and INT64 in BigQuery; DuckDB's COUNT_IF gives NULL / HUGEINT."""

    def match(self, node):
        return isinstance(node, exp.CountIf)

    def rewrite(self, node):
        return duck("count(CASE WHEN {cond} THEN 1 END)", cond=node.this)


class ParseTimestampZone(Rule):
    """PARSE_TIMESTAMP(fmt, s[, zone]) reads the wall time in `zone` (default UTC) and returns
    a TIMESTAMP; DuckDB's strptime returns a zone-less TIMESTAMP."""

    def match(self, node):
        fmt = node.args.get("format") if isinstance(node, exp.StrToTime) else None
        return fmt is not None and not ("%z" in fmt.sql() or "%Z" in fmt.sql())

    def rewrite(self, node):
        zone = node.args.get("zone") or exp.Literal.string("UTC")
        bare = node.copy()
        bare.set("zone", None)
        return duck("timezone({zone}, {ts})", zone=zone, ts=bare)


class DayOfWeek(Rule):
    """EXTRACT(DAYOFWEEK): BigQuery counts Sunday=1..Saturday=7, DuckDB Sunday=0..6."""

    def match(self, node):
        return isinstance(node, exp.Extract) and node.this.name.upper() == "DAYOFWEEK"

    def rewrite(self, node):
        return duck("(dayofweek({x}) + 1)", x=node.expression)


class IsoWeek(Rule):
    """EXTRACT(ISOWEEK / ISOYEAR): DuckDB does not know ISOWEEK; its own WEEK is the ISO week."""

    def match(self, node):
        return isinstance(node, exp.Extract) and node.this.name.upper() in ("ISOWEEK", "ISOYEAR")

    def rewrite(self, node):
        fn = "weekofyear" if node.this.name.upper() == "ISOWEEK" else "isoyear"
        return duck(f"{fn}({{x}})", x=node.expression)


class Week(Rule):
    """EXTRACT(WEEK[(<WEEKDAY>)]): BigQuery's weeks start on Sunday (or the given day), and the
    days before the first such day are week 0. DuckDB's WEEK is the ISO week."""

    def match(self, node):
        unit = node.this if isinstance(node, exp.Extract) else None
        return (isinstance(unit, exp.Var) and unit.name.upper() == "WEEK") or isinstance(
            unit, exp.WeekStart
        )

    def rewrite(self, node):
        unit = node.this
        start = WEEKDAYS.index(unit.this.name.upper()) if isinstance(unit, exp.WeekStart) else 0
        # Days since the last week-start day, then whole weeks since the first one of the year.
        sql = f"((dayofyear({{x}}) + 6 - ((dayofweek({{x}}) - {start} + 7) % 7)) // 7)"
        return duck(sql, x=node.expression)


class DateResult(Rule):
    """DATE_ADD / DATE_SUB / DATE_TRUNC / DATE_FROM_UNIX_DATE return a DATE in BigQuery; DuckDB returns a TIMESTAMP.
    (TIMESTAMP_* and DATETIME_* are separate functions and keep their types.)"""

    def match(self, node):
        return isinstance(node, (exp.DateAdd, exp.DateSub, exp.DateTrunc, exp.DateFromUnixDate))

    def rewrite(self, node):
        return exp.Cast(this=node, to=exp.DataType.build("DATE"))


class FormatTimestampZone(Rule):
    """FORMAT_TIMESTAMP(fmt, ts, zone): sqlglot drops the zone; format the zone's wall time."""

    def match(self, node):
        return isinstance(node, exp.TimeToStr) and node.args.get("zone") is not None

    def rewrite(self, node):
        ts = node.this.this if isinstance(node.this, exp.TsOrDsToTimestamp) else node.this
        local = duck(
            "(CAST({ts} AS TIMESTAMPTZ) AT TIME ZONE {zone})", ts=ts, zone=node.args["zone"]
        )
        return exp.Anonymous(this="strftime", expressions=[local, node.args["format"]])


class FloatLiteral(Rule):
    """1.5 is a FLOAT64 in BigQuery (NUMERIC only when written NUMERIC '1.5'); DuckDB reads it
    as a DECIMAL. Left alone where it is cast straight away."""

    def match(self, node):
        return (
            isinstance(node, exp.Literal)
            and not node.is_string
            and any(c in node.this for c in ".eE")
            and not isinstance(node.parent, exp.Cast)
        )

    def rewrite(self, node):
        return exp.Cast(this=node, to=exp.DataType.build("DOUBLE"))


class NumericType(Rule):
    """NUMERIC is DECIMAL(38, 9) in BigQuery; a bare DECIMAL is DECIMAL(18, 3) in DuckDB."""

    def match(self, node):
        return (
            isinstance(node, exp.DataType)
            and node.this == exp.DataType.Type.DECIMAL
            and not node.expressions
        )

    def rewrite(self, node):
        return exp.DataType.build("DECIMAL(38, 9)")


class ProjectQualifiedName(Rule):
    """`project.dataset.table` -> dataset.table (one DuckDB file stands for one project);
    CREATE SCHEMA `project.dataset` -> CREATE SCHEMA dataset."""

    def match(self, node):
        if not isinstance(node, exp.Table):
            return False
        if self._is_schema(node):
            return bool(node.args.get("catalog")) or "." in node.text("db")
        return bool(node.args.get("catalog"))

    def rewrite(self, node):
        new = node.copy()
        new.set("catalog", None)
        if self._is_schema(node):
            # A backticked `project.dataset` arrives as one identifier.
            new.set("db", exp.to_identifier(node.text("db").split(".")[-1]))
        return new

    @staticmethod
    def _is_schema(node):
        return isinstance(node.parent, exp.Create) and node.parent.kind == "SCHEMA"


class StorageOptions(Rule):
    """PARTITION BY / CLUSTER BY / OPTIONS(...) in BigQuery DDL only decide storage and
    metadata, never results; DuckDB has no such clauses, so they are dropped."""

    def match(self, node):
        return isinstance(node, exp.Properties) and isinstance(node.parent, exp.Create)

    def rewrite(self, node):
        storage = (exp.PartitionedByProperty, exp.ClusterProperty, exp.Property)
        kept = [p for p in node.expressions if type(p) not in storage]
        return exp.Properties(expressions=kept) if kept else None


RULES: tuple[Rule, ...] = (
    StorageOptions(),
    ProjectQualifiedName(),
    IntegerCast(),
    CountIf(),
    ParseTimestampZone(),
    DayOfWeek(),
    IsoWeek(),
    Week(),
    DateResult(),
    FormatTimestampZone(),
    FloatLiteral(),
    NumericType(),
)


def fix(tree: exp.Expr, rules: tuple[Rule, ...] = RULES) -> exp.Expr:
    """Apply the rules bottom-up, each node once; returns the new root."""
    # Reversed pre-order visits every node after all of its descendants.
    for node in reversed(list(tree.walk(bfs=False))):
        for rule in rules:
            if rule.match(node):
                parent, key, index = node.parent, node.arg_key, node.index
                new = rule.rewrite(node)
                if parent is None:
                    tree = new
                else:
                    assert key is not None  # sqlglot sets arg_key whenever it sets parent
                    parent.set(key, new, index)
                break
    return tree


@lru_cache(maxsize=512)
def transpile(sql: str, types: tuple[tuple[str, str], ...] = ()) -> tuple[str, tuple[str, ...]]:
    """One BigQuery statement -> (DuckDB SQL, names of the @parameters it uses, in order).

    `types` pairs parameter names with the DuckDB type of the bound value; those parameters
    are cast to it, so that a value is typed as BigQuery would type it (a str stays a STRING
    and does not quietly become a DATE)."""
    try:
        trees = [t for t in sqlglot.parse(sql, read="bigquery") if t is not None]
    except SqlglotError as exc:
        raise TranspileError(f"not valid BigQuery SQL: {_first_line(exc)}") from None
    if len(trees) != 1:
        raise TranspileError(f"expected one SQL statement, got {len(trees)}")
    tree = trees[0]
    names = tuple(dict.fromkeys(p.name for p in tree.find_all(exp.Parameter)))
    tree = fix(tree)
    typed = dict(types)
    for param in list(tree.find_all(exp.Parameter)):
        if param.name in typed:
            cast = exp.Cast(
                this=param.copy(), to=exp.DataType.build(typed[param.name], dialect="duckdb")
            )
            if param is tree:
                tree = cast
            else:
                param.replace(cast)
    try:
        out = tree.sql(dialect="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise TranspileError(f"cannot run on DuckDB: {_first_line(exc)}") from None
    return out, names


def split_statements(text: str) -> list[str]:
    """Split a BigQuery script on its top-level semicolons (not those inside strings or
    comments), keeping each statement's original text; empty statements are dropped."""
    try:
        tokens = BigQuery().tokenize(text)
    except SqlglotError as exc:
        raise TranspileError(f"not valid BigQuery SQL: {_first_line(exc)}") from None
    statements, start = [], 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append(text[start : token.start])
            start = token.end + 1
    statements.append(text[start:])
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    return bool(statement.strip()) and bool(BigQuery().tokenize(statement))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
