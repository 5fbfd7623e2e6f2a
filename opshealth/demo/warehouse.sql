-- The demo warehouse (demo/README.md lists every object; demo/app/ reads and writes
-- them, so names here are a contract). Run in one transaction by
-- opshealth.demo.warehouse.build(); every row is generated set-based and seeded, so
-- two builds hold the same data apart from the timestamps relative to now().
SELECT setseed(0.42);

CREATE SCHEMA raw;
CREATE SCHEMA canon;
CREATE SCHEMA mart;
CREATE SCHEMA ops;
COMMENT ON SCHEMA raw IS 'Landing zone: rows as the loaders deliver them';
COMMENT ON SCHEMA canon IS 'Cleaned, conformed tables';
COMMENT ON SCHEMA mart IS 'Views and materialized views read by the applications';

-- ---------------------------------------------------------------- raw -----------
CREATE TABLE raw.customers (
    customer_id integer PRIMARY KEY,
    email text NOT NULL,
    full_name text NOT NULL,
    country char(2) NOT NULL,
    signup_at timestamptz NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE raw.products (
    product_id integer PRIMARY KEY,
    sku text NOT NULL UNIQUE,
    name text NOT NULL,
    category text NOT NULL,
    unit_price numeric(10, 2) NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE raw.orders (
    order_id bigint PRIMARY KEY,
    customer_id integer NOT NULL,
    order_ts timestamptz NOT NULL,
    status text NOT NULL,
    currency char(3) NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE raw.orders IS 'Orders as exported every 15 minutes by the shop backend';

CREATE TABLE raw.order_items (
    order_item_id bigint PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES raw.orders (order_id),
    product_id integer NOT NULL REFERENCES raw.products (product_id),
    quantity integer NOT NULL,
    unit_price numeric(10, 2) NOT NULL
);

-- No key: the payment loader's retries land twice (a defect the data checks find).
CREATE TABLE raw.payments (
    payment_id bigint NOT NULL,
    order_id bigint NOT NULL REFERENCES raw.orders (order_id),
    amount numeric(12, 2) NOT NULL,
    method text NOT NULL,
    paid_at timestamptz NOT NULL
);

CREATE TABLE raw.events (
    event_id bigint NOT NULL,
    event_time timestamptz NOT NULL,
    customer_id integer,
    event_type text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (event_id, event_time)
) PARTITION BY RANGE (event_time);
COMMENT ON TABLE raw.events IS 'Click-stream events, one partition per month';
CREATE TABLE raw.events_2026_10 PARTITION OF raw.events
    FOR VALUES FROM ('2026-10-01 00:00+00') TO ('2026-11-01 00:00+00');
CREATE TABLE raw.events_2026_11 PARTITION OF raw.events
    FOR VALUES FROM ('2026-11-01 00:00+00') TO ('2026-12-01 00:00+00');

CREATE TABLE raw.fx_rates (
    rate_date date NOT NULL,
    currency char(3) NOT NULL,
    rate_to_eur numeric(12, 6) NOT NULL,
    PRIMARY KEY (rate_date, currency)
);

CREATE TABLE raw.web_sessions (
    session_id bigint PRIMARY KEY,
    customer_id integer,
    started_at timestamptz NOT NULL,
    page_views integer NOT NULL,
    converted boolean NOT NULL,
    loaded_at timestamptz NOT NULL
);
COMMENT ON TABLE raw.web_sessions IS 'Web analytics sessions; the loader stopped three days ago';

CREATE TABLE raw.inventory_snapshots (
    snapshot_date date NOT NULL,
    product_id integer NOT NULL REFERENCES raw.products (product_id),
    on_hand integer NOT NULL,
    PRIMARY KEY (snapshot_date, product_id)
);

CREATE TABLE raw."CamelCaseImport" (
    "ImportId" integer PRIMARY KEY,
    "SourceFile" text NOT NULL,
    "RowCount" integer NOT NULL,
    "ImportedAt" timestamptz NOT NULL
);
COMMENT ON TABLE raw."CamelCaseImport" IS 'Written by a vendor tool that quotes its identifiers';

INSERT INTO raw.customers (customer_id, email, full_name, country, signup_at, loaded_at)
SELECT i,
       'customer' || i || '@example.com',
       (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken', 'Linus', 'Margaret'])[1 + i % 8]
           || ' ' || (ARRAY['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Thompson'])[1 + i % 6],
       (ARRAY['DE', 'FR', 'NL', 'GB', 'US', 'ES', 'IT'])[1 + i % 7],
       now() - (random() * 700 + 90) * interval '1 day',
       now() - random() * interval '2 hours'
FROM generate_series(1, 600) AS i;

INSERT INTO raw.products (product_id, sku, name, category, unit_price, loaded_at)
SELECT i,
       'SKU-' || lpad(i::text, 5, '0'),
       (ARRAY['Desk', 'Chair', 'Lamp', 'Shelf', 'Monitor', 'Keyboard', 'Cable', 'Dock'])[1 + i % 8] || ' ' || i,
       (ARRAY['furniture', 'furniture', 'lighting', 'furniture', 'electronics', 'electronics', 'accessories', 'electronics'])[1 + i % 8],
       round((5 + random() * 495)::numeric, 2),
       now() - random() * interval '6 hours'
FROM generate_series(1, 150) AS i;

INSERT INTO raw.orders (order_id, customer_id, order_ts, status, currency, loaded_at)
SELECT i,
       1 + (random() * 599)::int,
       now() - random() * interval '80 days',
       (ARRAY['paid', 'paid', 'paid', 'shipped', 'shipped', 'cancelled', 'refunded'])[1 + (random() * 6)::int],
       (ARRAY['EUR', 'EUR', 'EUR', 'USD', 'GBP'])[1 + (random() * 4)::int],
       now() - random() * interval '30 minutes'
FROM generate_series(1, 3000) AS i;

INSERT INTO raw.order_items (order_item_id, order_id, product_id, quantity, unit_price)
SELECT row_number() OVER (), o.order_id, 1 + (random() * 149)::int, 1 + (random() * 4)::int, 0
FROM raw.orders AS o, generate_series(1, 3) AS line
WHERE line <= 1 + o.order_id % 3;
UPDATE raw.order_items AS oi SET unit_price = p.unit_price FROM raw.products AS p WHERE p.product_id = oi.product_id;

INSERT INTO raw.payments (payment_id, order_id, amount, method, paid_at)
SELECT o.order_id, o.order_id, sum(oi.quantity * oi.unit_price),
       (ARRAY['card', 'card', 'paypal', 'transfer'])[1 + (o.order_id % 4)::int],
       o.order_ts + interval '3 minutes'
FROM raw.orders AS o JOIN raw.order_items AS oi USING (order_id)
WHERE o.status <> 'cancelled'
GROUP BY o.order_id, o.order_ts;
-- Defects for the data checks: a replayed batch (12 duplicate payment ids) and a refund
-- booked as a negative payment.
INSERT INTO raw.payments SELECT * FROM raw.payments WHERE payment_id BETWEEN 2001 AND 2100 ORDER BY payment_id LIMIT 12;
UPDATE raw.payments SET amount = -amount WHERE payment_id = (SELECT min(payment_id) FROM raw.payments WHERE method = 'paypal');

INSERT INTO raw.events (event_id, event_time, customer_id, event_type, payload)
SELECT i,
       timestamptz '2026-10-01 00:00+00' + random() * interval '60 days',
       1 + (random() * 599)::int,
       (ARRAY['page_view', 'page_view', 'page_view', 'add_to_cart', 'checkout', 'search'])[1 + (random() * 5)::int],
       jsonb_build_object('ua', 'demo', 'ms', (random() * 900)::int)
FROM generate_series(1, 4000) AS i;

INSERT INTO raw.fx_rates (rate_date, currency, rate_to_eur)
SELECT d::date, c, CASE c WHEN 'EUR' THEN 1 WHEN 'USD' THEN 0.92 + random() / 50 ELSE 1.15 + random() / 50 END
FROM generate_series(current_date - 89, current_date, interval '1 day') AS d,
     unnest(ARRAY['EUR', 'USD', 'GBP']) AS c
WHERE d <> current_date - 12;  -- a gap day: the ECB feed missed one (found by gap_days)

-- Stale on purpose: the newest session was loaded three days ago.
INSERT INTO raw.web_sessions (session_id, customer_id, started_at, page_views, converted, loaded_at)
SELECT i,
       CASE WHEN random() < 0.7 THEN 1 + (random() * 599)::int END,
       now() - interval '3 days' - random() * interval '40 days',
       1 + (random() * 20)::int,
       random() < 0.12,
       now() - interval '3 days'
FROM generate_series(1, 2500) AS i;

INSERT INTO raw.inventory_snapshots (snapshot_date, product_id, on_hand)
SELECT d::date, p, (random() * 300)::int
FROM generate_series(current_date - 29, current_date, interval '1 day') AS d, generate_series(1, 150) AS p;

INSERT INTO raw."CamelCaseImport" ("ImportId", "SourceFile", "RowCount", "ImportedAt")
SELECT i, 'vendor_export_' || i || '.csv', (random() * 10000)::int, now() - i * interval '6 hours'
FROM generate_series(1, 200) AS i;

-- -------------------------------------------------------------- canon -----------
CREATE TABLE canon.customers (
    customer_id integer PRIMARY KEY,
    email text NOT NULL UNIQUE,
    full_name text NOT NULL,
    country char(2) NOT NULL,
    signup_date date NOT NULL
);
COMMENT ON TABLE canon.customers IS 'One row per customer, deduplicated by email';
COMMENT ON COLUMN canon.customers.country IS 'ISO 3166-1 alpha-2';

CREATE TABLE canon.products (
    product_id integer PRIMARY KEY,
    sku text NOT NULL UNIQUE,
    name text NOT NULL,
    category text NOT NULL,
    unit_price_eur numeric(10, 2) NOT NULL
);

CREATE TABLE canon.orders (
    order_id bigint PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES canon.customers (customer_id),
    order_date date NOT NULL,
    order_ts timestamptz NOT NULL,
    status text NOT NULL,
    currency char(3) NOT NULL
);
CREATE INDEX orders_order_date_idx ON canon.orders (order_date);

CREATE TABLE canon.order_lines (
    order_id bigint NOT NULL REFERENCES canon.orders (order_id),
    line_no integer NOT NULL,
    product_id integer NOT NULL REFERENCES canon.products (product_id),
    quantity integer NOT NULL,
    unit_price_eur numeric(10, 2) NOT NULL,
    amount_eur numeric(12, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE canon.payments (
    payment_id bigint PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES canon.orders (order_id),
    amount_eur numeric(12, 2) NOT NULL,
    method text NOT NULL,
    paid_at timestamptz NOT NULL
);

CREATE TABLE canon.fx_rates_daily (
    rate_date date NOT NULL,
    currency char(3) NOT NULL,
    rate_to_eur numeric(12, 6) NOT NULL,
    PRIMARY KEY (rate_date, currency)
);

CREATE TABLE canon.calendar (
    day date PRIMARY KEY,
    year integer NOT NULL,
    month integer NOT NULL,
    iso_week integer NOT NULL,
    is_weekend boolean NOT NULL
);
COMMENT ON TABLE canon.calendar IS 'Date dimension';

INSERT INTO canon.customers SELECT customer_id, email, full_name, country, signup_at::date FROM raw.customers;
INSERT INTO canon.products SELECT product_id, sku, name, category, unit_price FROM raw.products;
INSERT INTO canon.fx_rates_daily SELECT rate_date, currency, rate_to_eur FROM raw.fx_rates;
INSERT INTO canon.orders SELECT order_id, customer_id, order_ts::date, order_ts, status, currency FROM raw.orders;
INSERT INTO canon.order_lines
SELECT order_id,
       row_number() OVER (PARTITION BY order_id ORDER BY order_item_id),
       product_id, quantity, unit_price, quantity * unit_price
FROM raw.order_items;
INSERT INTO canon.payments
SELECT DISTINCT ON (payment_id) payment_id, order_id, amount, method, paid_at FROM raw.payments ORDER BY payment_id;
INSERT INTO canon.calendar
SELECT d::date, extract(year FROM d), extract(month FROM d), extract(week FROM d), extract(isodow FROM d) >= 6
FROM generate_series(date '2025-01-01', date '2027-12-31', interval '1 day') AS d;

-- --------------------------------------------------------------- mart -----------
CREATE VIEW mart.v_orders_enriched AS
SELECT o.order_id, o.order_date, o.order_ts, o.status, o.currency,
       c.customer_id, c.full_name AS customer_name, c.country
FROM canon.orders AS o
JOIN canon.customers AS c ON c.customer_id = o.customer_id;
COMMENT ON VIEW mart.v_orders_enriched IS 'Orders with their customer';

CREATE VIEW mart.v_order_revenue AS
SELECT e.order_id, e.order_date, e.country, e.status,
       sum(l.amount_eur) AS revenue_eur, sum(l.quantity) AS units
FROM mart.v_orders_enriched AS e
JOIN canon.order_lines AS l ON l.order_id = e.order_id
WHERE e.status IN ('paid', 'shipped')
GROUP BY e.order_id, e.order_date, e.country, e.status;

CREATE VIEW mart.v_revenue_by_day AS
SELECT order_date AS sales_day, count(*) AS orders, sum(units) AS units, sum(revenue_eur) AS revenue_eur
FROM mart.v_order_revenue
GROUP BY order_date;

CREATE MATERIALIZED VIEW mart.daily_sales AS
SELECT sales_day, orders, units, revenue_eur FROM mart.v_revenue_by_day;
CREATE UNIQUE INDEX daily_sales_sales_day_key ON mart.daily_sales (sales_day);
COMMENT ON MATERIALIZED VIEW mart.daily_sales IS 'Revenue per day; refreshed concurrently every hour';

-- Left unpopulated on purpose: the health demo shows mv_not_populated.
CREATE MATERIALIZED VIEW mart.customer_ltv AS
SELECT c.customer_id, c.full_name, count(o.order_id) AS orders, min(o.order_date) AS first_order,
       max(o.order_date) AS last_order
FROM canon.customers AS c
LEFT JOIN canon.orders AS o ON o.customer_id = c.customer_id
GROUP BY c.customer_id, c.full_name
WITH NO DATA;

CREATE MATERIALIZED VIEW mart.product_performance AS
SELECT p.product_id, p.name, p.category, sum(l.quantity) AS units, sum(l.amount_eur) AS revenue_eur
FROM canon.order_lines AS l
JOIN canon.products AS p ON p.product_id = l.product_id
GROUP BY p.product_id, p.name, p.category;

CREATE VIEW mart.top_products AS
SELECT product_id, name, category, revenue_eur
FROM mart.product_performance
ORDER BY revenue_eur DESC
LIMIT 20;

CREATE VIEW mart.v_active_customers AS
SELECT c.customer_id, c.country, max(s.started_at) AS last_session_at, sum(s.page_views) AS page_views,
       bool_or(s.converted) AS converted
FROM canon.customers AS c
JOIN raw.web_sessions AS s ON s.customer_id = c.customer_id
GROUP BY c.customer_id, c.country;

CREATE MATERIALIZED VIEW mart.session_funnel AS
SELECT country, count(*) AS active_customers, count(*) FILTER (WHERE converted) AS converted_customers,
       sum(page_views) AS page_views
FROM mart.v_active_customers
GROUP BY country;
CREATE UNIQUE INDEX session_funnel_country_key ON mart.session_funnel (country);

CREATE FUNCTION mart.fn_top_customers(n integer DEFAULT 10)
RETURNS TABLE (customer_id integer, customer_name text, revenue_eur numeric)
LANGUAGE sql STABLE
AS $$
    SELECT e.customer_id, e.customer_name, sum(l.amount_eur)
    FROM mart.v_orders_enriched AS e
    JOIN canon.order_lines AS l ON l.order_id = e.order_id
    GROUP BY e.customer_id, e.customer_name
    ORDER BY 3 DESC
    LIMIT n
$$;
COMMENT ON FUNCTION mart.fn_top_customers(integer) IS 'Best customers by revenue';

-- ---------------------------------------------------------------- ops -----------
CREATE TABLE ops.job_log (
    job_log_id bigint PRIMARY KEY,
    job_name text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    status text NOT NULL
);

CREATE TABLE ops.etl_config (
    key text PRIMARY KEY,
    value text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ops.etl_config IS 'Loader settings; also holds the demo warehouse version';

INSERT INTO ops.job_log
SELECT i, (ARRAY['load_orders', 'load_sessions', 'refresh_marts'])[1 + i % 3],
       now() - i * interval '1 hour', now() - i * interval '1 hour' + interval '2 minutes',
       CASE WHEN i % 17 = 0 THEN 'failed' ELSE 'success' END
FROM generate_series(1, 500) AS i;
INSERT INTO ops.etl_config (key, value) VALUES
    ('orders_batch_size', '5000'),
    ('sessions_loader_enabled', 'false');

-- ------------------------------------------------------------- public -----------
CREATE TABLE public.app_users (
    user_id integer PRIMARY KEY,
    username text NOT NULL UNIQUE,
    email text NOT NULL,
    is_admin boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);

CREATE TABLE public.feature_flags (
    flag text PRIMARY KEY,
    enabled boolean NOT NULL,
    updated_by integer REFERENCES public.app_users (user_id),
    updated_at timestamptz NOT NULL
);

CREATE TABLE public."Daily.Stats" (
    stat_day date PRIMARY KEY,
    visits integer NOT NULL,
    signups integer NOT NULL
);
COMMENT ON TABLE public."Daily.Stats" IS 'A dotted name, quoted: one identifier, not schema.table';

CREATE TABLE public.audit_trail (
    audit_id bigint PRIMARY KEY,
    user_id integer REFERENCES public.app_users (user_id),
    action text NOT NULL,
    happened_at timestamptz NOT NULL
);

INSERT INTO public.app_users
SELECT i, 'user' || i, 'user' || i || '@example.com', i <= 3, now() - i * interval '5 days'
FROM generate_series(1, 40) AS i;
INSERT INTO public.feature_flags VALUES
    ('new_checkout', true, 1, now() - interval '10 days'),
    ('dark_mode', false, 2, now() - interval '40 days'),
    ('ltv_dashboard', false, 1, now() - interval '2 days');
INSERT INTO public."Daily.Stats"
SELECT d::date, 500 + (random() * 1500)::int, (random() * 40)::int
FROM generate_series(current_date - 179, current_date, interval '1 day') AS d;
INSERT INTO public.audit_trail
SELECT i, 1 + i % 40, (ARRAY['login', 'logout', 'export', 'flag_change'])[1 + i % 4], now() - i * interval '37 minutes'
FROM generate_series(1, 1200) AS i;
