"""The AI judge: an LLM scores AI replies against criteria, and the reviewers' verdicts measure how
far it can be trusted, criterion by criterion.

`criteria` (built-in and team criteria, the prompt version), `prompt` (messages with untrusted text
redacted and fenced, the output schema, parsing the answer), `client` (the official `openai` SDK:
OpenAI, Azure OpenAI and any compatible server), `store` (runs claimed before the call, never
repeated for their key), `runner` (bounded concurrency and time, the daily budget, the scheduled
job), `agreement` (kappa, precision and recall against reviewers; which criteria are trusted),
`tilt` (the judge-flagged replies the sampler draws first), `hints` (what the review card shows),
`evaluate` (offline agreement on a labelled file).

May import: bot.views, bot.delivery, integrations, bot.core."""
