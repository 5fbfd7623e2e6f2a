-- Canon build, run by the deploy pipeline after each release.
-- Unqualified names below land in canon first (search_path), raw tables are qualified.
SET search_path TO canon, public;

-- Customers: latest row per customer from the raw feed.
INSERT INTO customers (customer_id, email, country, full_name)
SELECT DISTINCT ON (customer_id) customer_id, lower(email), country, full_name
  FROM raw.customers
 ORDER BY customer_id, loaded_at DESC
ON CONFLICT (customer_id) DO UPDATE
   SET email = EXCLUDED.email, country = EXCLUDED.country, full_name = EXCLUDED.full_name;

/* Products were once loaded from raw.products_v1:
   insert into products select * from raw.products_v1;
   kept for reference, do not run. */
WITH latest AS (
    SELECT product_id, max(loaded_at) AS loaded_at
      FROM raw.products
     GROUP BY product_id
)
INSERT INTO products (product_id, name, category)
SELECT p.product_id, p.name, p.category
  FROM raw.products p
  JOIN latest l USING (product_id, loaded_at)
ON CONFLICT (product_id) DO NOTHING;

INSERT INTO payments
SELECT * FROM raw.payments WHERE paid_at >= current_date - 1
ON CONFLICT DO NOTHING;

SET search_path TO public;
DELETE FROM app_users WHERE NOT is_admin AND created_at < now() - interval '2 years';
