"""Tests for bridge.logcontext: the reply's ids on every log record written inside it."""

from __future__ import annotations

import logging

import anyio
import pytest

from bridge.logcontext import FIELDS, current, install, note_surface, reply_context

log = logging.getLogger("tests.logcontext")


def test_records_inside_a_reply_carry_its_ids(caplog: pytest.LogCaptureFixture) -> None:
    """Inside the block every record has the ids; outside, the same fields are empty."""
    install()
    caplog.set_level(logging.INFO, logger="tests.logcontext")
    with reply_context("helpdesk", "cid-1") as context:
        log.info("inside")
    log.info("outside")
    inside, outside = caplog.records
    assert (inside.assistant, inside.conversation, inside.reply) == (
        "helpdesk",
        "cid-1",
        context.reply,
    )
    assert inside.context == f" [assistant=helpdesk conversation=cid-1 reply={context.reply}]"
    assert all(getattr(outside, name) == "" for name in FIELDS)
    assert outside.context == ""
    assert current() is None


def test_every_reply_gets_its_own_id() -> None:
    """Two replies of one conversation are told apart by their reply ids."""
    with reply_context("a", "c") as first:
        pass
    with reply_context("a", "c") as second:
        pass
    assert first.reply != second.reply


@pytest.mark.anyio
async def test_child_tasks_see_the_surface_learnt_later(caplog: pytest.LogCaptureFixture) -> None:
    """A task started before the surface was known logs it once ``note_surface`` ran."""
    install()
    caplog.set_level(logging.INFO, logger="tests.logcontext")
    noted = anyio.Event()

    async def child() -> None:
        await noted.wait()
        log.info("from the child")

    with reply_context("a", "c"):
        async with anyio.create_task_group() as tg:
            tg.start_soon(child)
            await anyio.wait_all_tasks_blocked()
            note_surface("ai_card", "m-1")
            noted.set()
    [record] = caplog.records
    assert (record.surface, record.message_id) == ("ai_card", "m-1")
    assert record.context.endswith("surface=ai_card message_id=m-1]")


def test_install_is_idempotent() -> None:
    """Installing twice wraps the record factory once."""
    install()
    factory = logging.getLogRecordFactory()
    install()
    assert logging.getLogRecordFactory() is factory
