-- Refresh order matters: daily_sales reads the revenue views, session_funnel
-- reads the active customers. -- REFRESH MATERIALIZED VIEW mart.top_products (it is a view!)
REFRESH MATERIALIZED VIEW CONCURRENTLY mart.daily_sales;
REFRESH MATERIALIZED VIEW CONCURRENTLY mart.session_funnel;
REFRESH MATERIALIZED VIEW mart.product_performance;

-- Record the refresh for the ops dashboard.
INSERT INTO ops.job_log (job_name, started_at, finished_at, status)
VALUES ('mart_refresh', now(), now(), 'success');
