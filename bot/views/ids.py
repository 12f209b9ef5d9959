"""Every action, callback and block id, in one place: nothing is matched by a string typed twice."""

# Sample item buttons (value: the sample item id)
VERDICT_CORRECT = "verdict_correct"
VERDICT_UNSURE = "verdict_unsure"
OPEN_DEFECT_MODAL = "open_defect_modal"
OPEN_FULL_TEXT = "open_full_text"

# Defect modal (private_metadata: {"item_id": N})
DEFECT_MODAL = "defect_modal"
CATEGORY_BLOCK = "category"
CATEGORY_INPUT = "category_input"
SEVERITY_BLOCK = "severity"
SEVERITY_INPUT = "severity_input"
WRONG_BLOCK = "what_is_wrong"
WRONG_INPUT = "what_is_wrong_input"
EXPECTED_BLOCK = "expected_answer"
EXPECTED_INPUT = "expected_answer_input"
HELPDESK_NOTE_BLOCK = "helpdesk_note"
HELPDESK_NOTE_INPUT = "helpdesk_note_input"
HELPDESK_NOTE_VALUE = "add_note"

# Full-text modal
FULL_TEXT_MODAL = "full_text_modal"

# Defect group card buttons (value: the defect group id)
GROUP_TAKE = "group_take"
GROUP_WONT_FIX = "group_wont_fix"
GROUP_FIXED = "group_fixed"
GROUP_MERGE = "group_merge"
GROUP_MOVE_DEFECT = "group_move_defect"
WONT_FIX_MODAL = "wont_fix_modal"
WONT_FIX_BLOCK = "wont_fix_reason"
WONT_FIX_INPUT = "wont_fix_reason_input"
MERGE_MODAL = "merge_modal"
MERGE_BLOCK = "merge_target"
MERGE_INPUT = "merge_target_input"
MOVE_MODAL = "move_defect_modal"  # private_metadata: {"defect_id": N}
MOVE_BLOCK = "move_target"
MOVE_INPUT = "move_target_input"

# App Home
HOME_REFRESH = "home_refresh"

# Feedback on one automatic finding, on a flagged sample item (value: the finding id)
FINDING_CONFIRMED = "finding_confirmed"
FINDING_FALSE_ALARM = "finding_false_alarm"
FALSE_ALARM_MODAL = "false_alarm_modal"  # private_metadata: {"finding_id": N}
FALSE_ALARM_BLOCK = "false_alarm_reason"
FALSE_ALARM_INPUT = "false_alarm_reason_input"
