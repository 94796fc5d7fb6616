"""What amoCRM holds after the demo, printed for a person: contacts, deals, unsorted, call notes."""

from __future__ import annotations

from typing import Any


def _phones(entity: dict[str, Any]) -> str:
    for field in entity.get("custom_fields_values") or []:
        if field.get("field_code") == "PHONE":
            return ", ".join(str(v.get("value")) for v in field.get("values", []))
    return "—"


def render_amocrm(state: dict[str, Any]) -> str:
    users = {u["id"]: u["name"] for u in state.get("users", [])}
    lines = [f"Contacts ({len(state.get('contacts', []))}):"]
    for contact in state.get("contacts", []):
        lines.append(
            f"  #{contact['id']:<9} {contact.get('name', ''):<42} {_phones(contact):<18} "
            f"→ {users.get(contact.get('responsible_user_id'), contact.get('responsible_user_id'))}"
        )
    lines.append(f"Deals ({len(state.get('leads', []))}):")
    for lead in state.get("leads", []):
        lines.append(
            f"  #{lead['id']:<9} {lead.get('name', ''):<42} status {lead.get('status_id')} "
            f"→ {users.get(lead.get('responsible_user_id'), lead.get('responsible_user_id'))}"
        )
    lines.append(f"Unsorted incoming leads («Неразобранное») ({len(state.get('unsorted', []))}):")
    for item in state.get("unsorted", []):
        metadata = item.get("metadata") or {}
        lines.append(f"  {item.get('uid', '')[:12]:<13} from {metadata.get('from') or metadata.get('phone')}")
    calls = [n for n in state.get("notes", []) if n.get("note_type") in ("call_in", "call_out")]
    lines.append(f"Call notes ({len(calls)}):")
    for note in calls:
        params = note.get("params") or {}
        link = "with recording" if params.get("link") else "no recording"
        lines.append(
            f"  {note['note_type']:<8} on {note.get('entity_type', '?')} #{note.get('entity_id')}: "
            f"{params.get('phone', '')}, {params.get('duration', 0)} s, status {params.get('call_status')}, "
            f"{link}"
        )
    others = [n for n in state.get("notes", []) if n.get("note_type") == "common"]
    lines.append(f"Notes written after the call: speech analytics, ratings, call tracking ({len(others)}):")
    for note in others:
        text = str((note.get("params") or {}).get("text") or "")
        shown = [line for line in text.splitlines() if line.strip()][:3]
        more = len(text.splitlines()) - len(shown)
        where = f"{note.get('entity_type', '?')} #{note.get('entity_id')}"
        lines.append(f"  on {where}: " + " | ".join(shown) + (f" (+{more} lines)" if more > 0 else ""))
    return "\n".join(lines)
