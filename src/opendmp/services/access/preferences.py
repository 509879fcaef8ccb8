"""The patient's choices: emergency access (docs/rules.md §3.4) and notifications (§5)."""

from __future__ import annotations

from dataclasses import dataclass

from opendmp.audit.vocabulary import AuditAction
from opendmp.domain.actors import Actor
from opendmp.domain.identifiers import Ins
from opendmp.domain.policy import Action
from opendmp.services.core.context import ServiceContext
from opendmp.services.core.guarded import guarded
from opendmp.services.records.lifecycle import EmergencyChoices


@dataclass(frozen=True, slots=True)
class NotificationPreferences:
    on_access: bool  # a message on each access by a professional (default on)
    on_new_document: bool  # a message on each new document (default off)
    mask_new_documents: bool  # new documents start masked from professionals (MASQUE_PS)


async def _set_record_flags(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    action: Action,
    audit_action: AuditAction,
    columns: dict[str, bool],
    details: dict[str, bool],
) -> None:
    """Set patient-choice columns of the record, through the policy, audited."""
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=action,
        audit_action=audit_action,
        for_update=True,
        audit_unknown_record=True,
    ) as g:
        for column, value in columns.items():
            setattr(g.record, column, value)
        await g.audit_allowed(audit_action, details)
        await g.uow.commit()


async def set_emergency_choices(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    allow_regulation: bool,
    allow_break_glass: bool,
    allow_masked_in_emergency: bool,
) -> EmergencyChoices:
    """ETREAT, BTG and MASKED, each permit or deny. An emergency access already open stays
    open until it expires: the choices govern the next ones."""
    choices = EmergencyChoices(allow_regulation, allow_break_glass, allow_masked_in_emergency)
    await _set_record_flags(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.SET_EMERGENCY_CHOICES,
        audit_action=AuditAction.EMERGENCY_CHOICES_SET,
        columns={
            "allow_regulation": allow_regulation,
            "allow_break_glass": allow_break_glass,
            "allow_masked_in_emergency": allow_masked_in_emergency,
        },
        details={
            "ETREAT": allow_regulation,
            "BTG": allow_break_glass,
            "MASKED": allow_masked_in_emergency,
        },
    )
    return choices


async def set_notification_preferences(
    ctx: ServiceContext,
    *,
    actor: Actor,
    ins: Ins,
    on_access: bool,
    on_new_document: bool,
    mask_new_documents: bool,
) -> NotificationPreferences:
    """The patient's notification preferences. An emergency access is always notified,
    whatever they say (§3.4)."""
    await _set_record_flags(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.SET_NOTIFICATION_PREFERENCES,
        audit_action=AuditAction.NOTIFICATION_PREFERENCES_SET,
        columns={
            "notify_on_access": on_access,
            "notify_on_new_document": on_new_document,
            "mask_new_documents": mask_new_documents,
        },
        details={
            "on_access": on_access,
            "on_new_document": on_new_document,
            "mask_new_documents": mask_new_documents,
        },
    )
    return NotificationPreferences(on_access, on_new_document, mask_new_documents)


@dataclass(frozen=True, slots=True)
class PatientChoices:
    """What the patient chose (the portal shows it before they change it)."""

    emergency: EmergencyChoices
    notifications: NotificationPreferences


async def show_preferences(ctx: ServiceContext, *, actor: Actor, ins: Ins) -> PatientChoices:
    """The current emergency choices and notification preferences. Whoever may set them may
    read them (same policy action); audited like every read."""
    async with guarded(
        ctx,
        actor=actor,
        ins=ins,
        action=Action.SET_NOTIFICATION_PREFERENCES,
        audit_action=AuditAction.PREFERENCES_READ,
        audit_unknown_record=True,
    ) as g:
        record = g.record
        choices = PatientChoices(
            EmergencyChoices(
                record.allow_regulation, record.allow_break_glass, record.allow_masked_in_emergency
            ),
            NotificationPreferences(
                record.notify_on_access, record.notify_on_new_document, record.mask_new_documents
            ),
        )
        await g.audit_allowed(AuditAction.PREFERENCES_READ)
        await g.uow.commit()
        return choices
