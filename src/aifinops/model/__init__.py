"""The pure domain: FOCUS columns and enums, cost metrics, time windows. No I/O, no database."""
