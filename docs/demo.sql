-- What the last day's files delivered (ops.ingest_log): every row loaded or quarantined
SELECT source, count(*) AS files, sum(rows_in_file) AS rows_in_files, sum(rows_loaded) AS loaded,
       sum(rows_quarantined) AS quarantined, max(outcome) AS outcome
FROM ops.ingest_log
WHERE ds = DATE'2026-10-30' AND outcome IN ('loaded', 'reloaded_changed')
GROUP BY source ORDER BY source;

-- Why rows were quarantined over the history (ops.quarantine)
SELECT source, regexp_replace(reason, "'[^']*'", "'…'") AS reason, count(*) AS rows
FROM ops.quarantine GROUP BY 1, 2 ORDER BY rows DESC LIMIT 10;

-- Files that arrived twice under another name (flagged at ingest, deduplicated in silver)
SELECT source, ds, regexp_extract(path, '[^/]+$', 0) AS file,
       regexp_extract(duplicate_of, '[^/]+$', 0) AS same_content_as
FROM ops.ingest_log WHERE duplicate_of IS NOT NULL AND outcome <> 'loading';

-- Quality gate on the last day: expectations that did not pass (ops.dq_results)
SELECT source, expectation_type, `column`, severity, unexpected_count
FROM ops.dq_results WHERE run_date = DATE'2026-10-30' AND NOT success
ORDER BY severity, source LIMIT 15;

-- Silver CRM: SCD2 history and what normalisation did to emails and phones
SELECT count(DISTINCT record_key) AS crm_records,
       sum(CASE WHEN NOT is_current THEN 1 ELSE 0 END) AS closed_versions,
       sum(CASE WHEN email_raw <> email THEN 1 ELSE 0 END) AS emails_normalised,
       sum(CASE WHEN email_match_key <> email THEN 1 ELSE 0 END) AS emails_with_match_key,
       sum(CASE WHEN phone_raw IS NOT NULL AND phone IS NULL THEN 1 ELSE 0 END) AS phones_unparseable,
       count(DISTINCT email_match_key) AS distinct_match_keys
FROM silver.crm_customers;

-- Web activity per day in silver (the last day came through Airflow)
SELECT _ds AS day, count(*) AS events, count(DISTINCT cookie_id) AS cookies,
       round(avg(CASE WHEN account_id IS NULL THEN 1.0 ELSE 0.0 END), 3) AS anonymous_share
FROM silver.web_events WHERE _ds >= DATE'2026-10-26' GROUP BY _ds ORDER BY _ds;

-- Identity resolution: source records per customer_key, and how each source was matched
SELECT source, matched_by, count(*) AS records, count(DISTINCT customer_key) AS customer_keys
FROM silver.identity_map GROUP BY source, matched_by ORDER BY source, records DESC;

-- Why profile records were linked (silver.identity_links): a rule, or a match probability
SELECT rule, count(*) AS links, round(min(match_probability), 5) AS min_probability
FROM silver.identity_links GROUP BY rule ORDER BY links DESC;

-- Golden records: how many sources one customer spans
SELECT size(sources) AS sources, count(*) AS customers, round(avg(records), 1) AS records_per_customer
FROM silver.customers GROUP BY 1 ORDER BY 1;

-- The identity runs: full on the history, incremental for the Airflow day
SELECT ds, mode, profile_records, new_records, customer_keys, links, keys_merged, keys_split, seconds
FROM ops.identity_runs ORDER BY run_at;

-- Gold: RFM segments as of the last day (gold.customer_rfm, built by dbt)
SELECT rfm_segment, count(*) AS customers, round(avg(recency_days), 1) AS avg_recency_days,
       round(avg(frequency), 2) AS avg_orders, round(avg(monetary), 2) AS avg_spend
FROM gold.customer_rfm GROUP BY rfm_segment ORDER BY customers DESC;

-- Returns: what came back over the history and why (silver.returns), and what silver refused (ops.quarantine)
SELECT r.channel, r.reason, count(*) AS lines, sum(r.quantity) AS units, sum(r.refund_amount) AS refunded
FROM silver.returns r GROUP BY r.channel, r.reason
UNION ALL
SELECT 'quarantined', regexp_extract(reason, '^rule ([a-z_]+)', 1), count(*), NULL, NULL
FROM ops.quarantine WHERE source = 'returns' AND reason LIKE 'rule %' GROUP BY 2
ORDER BY 1, 3 DESC;

-- Gold: RFM monetary net of refunds, for the customers with the most refunded (gold.customer_rfm)
SELECT customer_key, rfm_segment, frequency, monetary_before_refunds, refunds, monetary
FROM gold.customer_rfm WHERE refunds > 0 ORDER BY refunds DESC LIMIT 5;

-- Gold: a few customer_360 rows (pseudonymised: keyed hashes and districts, no names or addresses)
SELECT customer_key, left(email_hmac, 12) AS email_pseudonym, postcode_district, birth_year, sources,
       rfm_score, rfm_segment, orders, net_spend, top_category, channel_mix, email_open_rate_30d,
       web_sessions_30d, consent_email_marketing
FROM gold.customer_360 WHERE is_active_buyer ORDER BY net_spend DESC LIMIT 8;

-- Gold: the most popular products over the last 7 days (gold.product_features)
SELECT popularity_rank_30d AS rank_30d, sku, category, brand, price_band, purchases_7d, views_7d, purchases_30d
FROM gold.product_features ORDER BY purchases_7d DESC, views_7d DESC LIMIT 5;

-- Serving: recommendations per source for the day (serving.recommendations, champion model)
SELECT run_date, model_version, source, count(DISTINCT customer_key) AS customers, count(*) AS rows
FROM serving.recommendations GROUP BY run_date, model_version, source ORDER BY run_date, rows DESC;

-- Serving: one personalised customer's list (ALS once a model is trained), with the reason for each product
SELECT r.rank, r.product_id, p.product_name, p.category, r.source, round(r.score, 3) AS score, r.reason
FROM serving.recommendations AS r JOIN gold.product_features AS p ON p.sku = r.product_id
WHERE r.customer_key = (SELECT customer_key FROM serving.recommendations WHERE source <> 'popular'
                        ORDER BY CASE source WHEN 'als' THEN 0 WHEN 'content' THEN 1 ELSE 2 END, customer_key
                        LIMIT 1)
  AND r.run_date = (SELECT max(run_date) FROM serving.recommendations)
ORDER BY r.rank LIMIT 10;

-- Serving: customer segments for the day (serving.customer_segments; clusters once a segment model is trained)
SELECT run_date, rfm_segment, count(*) AS customers, count(cluster_id) AS clustered
FROM serving.customer_segments GROUP BY run_date, rfm_segment ORDER BY customers DESC;

-- Serving: behavioural clusters for the day, named from their centroids (gold.segment_profiles describes each)
SELECT s.cluster_id, s.cluster_name, count(*) AS customers, round(avg(c.clv_12m), 2) AS mean_clv_12m,
       round(avg(c.churn_probability), 3) AS mean_churn_probability
FROM serving.customer_segments s
JOIN serving.customer_scores c ON c.customer_key = s.customer_key AND c.run_date = s.run_date
WHERE s.run_date = (SELECT max(run_date) FROM serving.customer_segments) AND s.cluster_id IS NOT NULL
GROUP BY s.cluster_id, s.cluster_name ORDER BY s.cluster_id;

-- Serving: the customers most at risk, with their lifetime value and the drivers in words (serving.customer_scores)
SELECT customer_key, round(churn_probability, 3) AS churn_probability, churn_risk_band,
       round(p_alive, 3) AS p_alive, round(expected_purchases_90d, 2) AS purchases_90d, round(clv_12m, 2) AS clv_12m,
       churn_drivers, clv_model_version, churn_model_version
FROM serving.customer_scores
WHERE run_date = (SELECT max(run_date) FROM serving.customer_scores) AND churn_probability IS NOT NULL
ORDER BY churn_probability * clv_12m DESC LIMIT 8;
