-- Functions used by the API and the refresh job.

CREATE OR REPLACE FUNCTION mart.fn_top_customers()
RETURNS TABLE (customer_id bigint, lifetime_revenue numeric)
LANGUAGE sql STABLE AS $$
    SELECT o.customer_id, sum(r.revenue_eur) AS lifetime_revenue
      FROM mart.v_order_revenue r
      JOIN canon.orders o ON o.order_id = r.order_id
     GROUP BY o.customer_id
     ORDER BY 2 DESC
     LIMIT 100
$$;

-- Writes one audit row per changed feature flag.
CREATE OR REPLACE FUNCTION public.log_flag_change() RETURNS trigger
LANGUAGE plpgsql AS $body$
DECLARE
    actor text := current_setting('app.user', true);
BEGIN
    INSERT INTO public.audit_trail(actor, action, at)
    VALUES (coalesce(actor, 'system'), 'flag ' || NEW.name || ' -> ' || NEW.enabled, now());
    IF NOT EXISTS (SELECT 1 FROM public.app_users u WHERE u.email = actor) THEN
        RAISE NOTICE 'unknown actor %', actor;
    END IF;
    RETURN NEW;
END;
$body$;

CREATE TRIGGER feature_flags_audit
    AFTER UPDATE ON public.feature_flags
    FOR EACH ROW EXECUTE FUNCTION public.log_flag_change();
