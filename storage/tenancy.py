"""Wall 1 of tenancy: every ORM statement filtered and every insert stamped.

A session's `info["scope"]` says which world it lives in: `"tenant"` (with
`info["tenant_id"]`) or `"platform"`. Any ORM statement that touches a
tenant-scoped class in a session with neither fails closed with
`TenantScopeError`. Sessions are opened with a scope only by the units of work
in storage.unit_of_work.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Alias, FromClause, Join
from sqlalchemy.sql.util import find_tables

from storage.models.base import Base, TenantScoped
from storage.models.tenancy import Tenant


class TenantScopeError(RuntimeError):
    """A tenant-scoped query or write without (or against) the bound tenant."""


def _scope(session: Session) -> tuple[str | None, uuid.UUID | None]:
    return session.info.get("scope"), session.info.get("tenant_id")


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    if any(issubclass(mapper.class_, (TenantScoped, Tenant)) for mapper in state.all_mappers):
        return True
    keys = _tenant_key_columns()
    statement: Any = state.statement
    return any(table in keys for table in find_tables(statement, include_aliases=True))


@event.listens_for(Session, "do_orm_execute")
def _filter_by_tenant(state: ORMExecuteState) -> None:
    scope, tenant_id = _scope(state.session)
    if scope == "platform" or not _touches_tenant_data(state):
        return
    if scope != "tenant" or tenant_id is None:
        raise TenantScopeError("tenant-scoped query outside a tenant unit of work")
    if state.is_insert:
        _stamp_parameters(state, tenant_id)
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = scope_statement(state.statement, tenant_id).options(
            with_loader_criteria(
                TenantScoped,
                lambda cls: cls.tenant_id == tenant_id,
                include_aliases=True,
                track_closure_variables=False,
            )
        )


@functools.cache
def _tenant_key_columns() -> dict[Table, str]:
    keys = {
        mapper.local_table: "tenant_id"
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, TenantScoped)
    }
    keys[Tenant.__table__] = "id"
    return keys  # type: ignore[return-value]


def _tenant_froms(frm: FromClause, keys: dict[Table, str]) -> Iterator[ColumnElement[Any]]:
    """The tenant key column of every tenant table (or alias of one) in a FROM."""
    if isinstance(frm, Join):
        yield from _tenant_froms(frm.left, keys)
        yield from _tenant_froms(frm.right, keys)
    elif isinstance(frm, Table) and frm in keys:
        yield frm.c[keys[frm]]
    elif isinstance(frm, Alias) and isinstance(frm.element, Table) and frm.element in keys:
        yield frm.c[keys[frm.element]]


def scope_statement(statement: Any, tenant_id: uuid.UUID) -> Any:
    """`statement` with `<table>.tenant_id = :tenant` on every tenant table it reads.

    with_loader_criteria covers ORM entities but not every Core shape (a bare
    `select_from`, subqueries, EXISTS, UNION); this walks a copy of the whole
    statement and adds the condition to each SELECT, UPDATE and DELETE.
    """
    keys = _tenant_key_columns()

    def visit_select(select: Any) -> None:
        conditions = tuple(
            column == tenant_id
            for frm in select.get_final_froms()
            for column in _tenant_froms(frm, keys)
        )
        if conditions:
            select._where_criteria += conditions

    def visit_dml(dml: Any) -> None:
        conditions = tuple(column == tenant_id for column in _tenant_froms(dml.table, keys))
        if conditions:
            dml._where_criteria += conditions

    # ORM options are not all clonable (slotted classes): set them aside, put them back.
    options = getattr(statement, "_with_options", ())
    if options:
        statement = statement._generate()
        statement._with_options = ()
    scoped = visitors.cloned_traverse(
        statement, {}, {"select": visit_select, "update": visit_dml, "delete": visit_dml}
    )
    if options:
        scoped._with_options = options
    return scoped


def _stamp_parameters(state: ORMExecuteState, tenant_id: uuid.UUID) -> None:
    params = state.parameters
    rows: list[dict[str, Any]]
    if params is None:
        return
    rows = params if isinstance(params, list) else [params]  # type: ignore[list-item]
    for row in rows:
        given = row.setdefault("tenant_id", tenant_id)
        if given != tenant_id:
            raise TenantScopeError("insert names another tenant")


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    scope, tenant_id = _scope(session)
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, TenantScoped):
            continue
        if scope == "platform":
            continue
        if scope != "tenant" or tenant_id is None:
            raise TenantScopeError("tenant-scoped write outside a tenant unit of work")
        current = getattr(obj, "tenant_id", None)
        if current is None:
            obj.tenant_id = tenant_id
        elif current != tenant_id:
            raise TenantScopeError("write names another tenant")
