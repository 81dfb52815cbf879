"""SLA: response and resolution targets per priority, told to the user; the clock and breaches."""
