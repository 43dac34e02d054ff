"""The small base every capability package may import, and which imports none of them: domain errors, the
inbound event as the domain sees it, what processing an event did, and the events the app raises itself."""
