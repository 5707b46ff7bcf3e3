//! The route table: a pure function from (listener, method, path) to a route.

use http::Method;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Public,
    Admin,
}

impl Listener {
    pub fn name(self) -> &'static str {
        match self {
            Listener::Public => "public",
            Listener::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    HealthAlive,
    HealthReady,
    Version,
    Metrics,
    ListSchemas,
    GetSchema(String),
    ListIdentities,
    CreateIdentity,
    BatchPatchIdentities,
    GetIdentity(String),
    UpdateIdentity(String),
    PatchIdentity(String),
    DeleteIdentity(String),
    GetIdentityByExternalId(String),
    DeleteIdentityCredentials { id: String, kind: String },
}

impl Route {
    /// The route's pattern, used as the metrics label (never the raw path: ids would explode
    /// the label set).
    pub fn pattern(&self) -> &'static str {
        match self {
            Route::HealthAlive => "/health/alive",
            Route::HealthReady => "/health/ready",
            Route::Version => "/version",
            Route::Metrics => "/metrics/prometheus",
            Route::ListSchemas => "/schemas",
            Route::GetSchema(_) => "/schemas/{id}",
            Route::ListIdentities | Route::CreateIdentity | Route::BatchPatchIdentities => "/identities",
            Route::GetIdentity(_)
            | Route::UpdateIdentity(_)
            | Route::PatchIdentity(_)
            | Route::DeleteIdentity(_) => "/identities/{id}",
            Route::GetIdentityByExternalId(_) => "/identities/by/external/{externalID}",
            Route::DeleteIdentityCredentials { .. } => "/identities/{id}/credentials/{type}",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Match {
    Found(Route),
    /// The path exists but not for this method; lists the methods it has.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

fn decode(seg: &str) -> String {
    percent_encoding::percent_decode_str(seg).decode_utf8_lossy().into_owned()
}

pub fn route(listener: Listener, method: &Method, path: &str) -> Match {
    // The admin port serves every route with and without the `/admin` prefix.
    let path = match listener {
        Listener::Admin => match path.strip_prefix("/admin") {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => path,
        },
        Listener::Public => path,
    };
    let path = path.trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let admin = listener == Listener::Admin;
    let m = method.clone();
    let get_like = m == Method::GET || m == Method::HEAD;
    let pick = |options: Vec<(Method, Route)>| -> Match {
        let allowed: Vec<Method> = options.iter().map(|(m, _)| m.clone()).collect();
        for (om, r) in options {
            if om == m || (om == Method::GET && m == Method::HEAD) {
                return Match::Found(r);
            }
        }
        Match::MethodNotAllowed(allowed)
    };
    match segs.as_slice() {
        ["health", "alive"] => pick(vec![(Method::GET, Route::HealthAlive)]),
        ["health", "ready"] => pick(vec![(Method::GET, Route::HealthReady)]),
        ["version"] => pick(vec![(Method::GET, Route::Version)]),
        ["metrics", "prometheus"] if admin => pick(vec![(Method::GET, Route::Metrics)]),
        ["schemas"] => pick(vec![(Method::GET, Route::ListSchemas)]),
        ["schemas", id] => pick(vec![(Method::GET, Route::GetSchema(decode(id)))]),
        ["identities"] if admin => pick(vec![
            (Method::GET, Route::ListIdentities),
            (Method::POST, Route::CreateIdentity),
            (Method::PATCH, Route::BatchPatchIdentities),
        ]),
        ["identities", "by", "external", ext] if admin => {
            pick(vec![(Method::GET, Route::GetIdentityByExternalId(decode(ext)))])
        }
        ["identities", id] if admin => {
            let id = decode(id);
            pick(vec![
                (Method::GET, Route::GetIdentity(id.clone())),
                (Method::PUT, Route::UpdateIdentity(id.clone())),
                (Method::PATCH, Route::PatchIdentity(id.clone())),
                (Method::DELETE, Route::DeleteIdentity(id)),
            ])
        }
        ["identities", id, "credentials", kind] if admin => pick(vec![(
            Method::DELETE,
            Route::DeleteIdentityCredentials { id: decode(id), kind: decode(kind) },
        )]),
        _ => {
            let _ = get_like;
            Match::NotFound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_prefix_is_optional_on_admin_only() {
        for p in ["/identities", "/admin/identities"] {
            assert_eq!(route(Listener::Admin, &Method::GET, p), Match::Found(Route::ListIdentities));
        }
        assert_eq!(route(Listener::Public, &Method::GET, "/admin/identities"), Match::NotFound);
        assert_eq!(route(Listener::Public, &Method::GET, "/identities"), Match::NotFound);
        assert_eq!(route(Listener::Admin, &Method::GET, "/admin/health/ready"), Match::Found(Route::HealthReady));
    }

    #[test]
    fn ids_methods_and_fallbacks() {
        assert_eq!(
            route(Listener::Admin, &Method::DELETE, "/admin/identities/abc/credentials/password"),
            Match::Found(Route::DeleteIdentityCredentials { id: "abc".into(), kind: "password".into() })
        );
        assert_eq!(
            route(Listener::Admin, &Method::GET, "/admin/identities/by/external/a%2Fb"),
            Match::Found(Route::GetIdentityByExternalId("a/b".into()))
        );
        assert!(matches!(route(Listener::Admin, &Method::POST, "/identities/x"), Match::MethodNotAllowed(_)));
        assert_eq!(route(Listener::Public, &Method::HEAD, "/health/alive"), Match::Found(Route::HealthAlive));
        assert_eq!(route(Listener::Public, &Method::GET, "/nope"), Match::NotFound);
        assert_eq!(route(Listener::Public, &Method::GET, "/metrics/prometheus"), Match::NotFound);
    }
}
