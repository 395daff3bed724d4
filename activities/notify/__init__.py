"""Telling people a run waits for them: one-click decision links (`links`), the message
(`message`), Slack (`slack`) and email (`email`) connectors, and their durable delivery
(`delivery`: one small workflow per notification, keyed by event, channel and recipient).

Link tokens are minted inside delivery activities only, so none ever enters a workflow
history; credentials come from `activities.secrets.get_secret`, read in activities only."""
