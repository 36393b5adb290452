-- One row per purchase (an online order or a till receipt) with its customer_key and totals.
-- An online order counts even when its lines are missing (quarantined): its header total stands in.
-- `identified`: the customer_key is a known customer (a CRM, web account, loyalty, order or email
-- record, or an email on a receipt), not a till receipt nobody can be linked to (each such receipt
-- is a key of its own). The customer models learn from identified customers only.
{{ purchases_sql(day_identity_map()) }}
