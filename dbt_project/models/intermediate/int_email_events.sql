-- One row per email event with the customer_key of its address.
{{ email_events_sql(day_identity_map()) }}
