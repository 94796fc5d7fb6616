"""BPMSoft's «Настройка действий в зависимости от роли» (F31): the rule table's interpreter, the backend
port its data actions run through, and the history of applied rules («Действия звонка»).

Pure: no AWS, no HTTP. See docs/role-rules.md.
"""

from mango_bridge.role_rules.backend import ActionRefused, Entity, RuleCall, RulesBackend
from mango_bridge.role_rules.history import AppliedRow, History, ScreenInstruction
from mango_bridge.role_rules.interpreter import MAX_STEPS, RuleTableError, interpret
from mango_bridge.role_rules.report import action_report
from mango_bridge.role_rules.run import run_role_rules

__all__ = [
    "MAX_STEPS",
    "ActionRefused",
    "AppliedRow",
    "Entity",
    "History",
    "RuleCall",
    "RuleTableError",
    "RulesBackend",
    "ScreenInstruction",
    "action_report",
    "interpret",
    "run_role_rules",
]
