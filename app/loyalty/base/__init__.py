"""The small base every capability package may import, and which imports none of them: domain errors, the
inbound event as the domain sees it, the money of an order as the orders table can hold it, what processing an event
did, the events the app raises itself, and whether a shop is installed."""
