"""The Slack app: incident messages kept current, approval buttons, questions in threads.

Modules: :mod:`~agent.slack.settings` (FLOWSLEUTH_SLACK_*), :mod:`~agent.slack.blocks`
(Block Kit), :mod:`~agent.slack.notifier` (one message per incident, edited in place),
:mod:`~agent.slack.answers`, :mod:`~agent.slack.app` (the Bolt listeners) and
:mod:`~agent.slack.mount` (inside ``flowsleuth serve``). Nothing is imported here, so
reading the settings does not load Bolt and the agent.
"""
