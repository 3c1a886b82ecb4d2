//! `GET /connectors`: the query (filters, `limit`, `cursor`) and the `Link` to the next page.

use serde_json::Value;

use super::super::error::ApiError;
use super::super::fields::{Fields, query_object, text};
use super::BASE;
use crate::domain::connector::ListFilter;
use crate::domain::scopes::{Provider, Scope, Status};

/// Query parameters of the list endpoint.
pub(super) struct ListQuery {
    pub filter: ListFilter,
    pub limit: usize,
    pub cursor: Option<String>,
}

impl ListQuery {
    /// Parses `provider`, `scope`, `status`, `limit` and `cursor`, each given at most once.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        parse_list_query(raw)
    }

    /// The `Link` to the next page: the same filters and limit, and `cursor`.
    pub fn next_link(&self, cursor: &str) -> String {
        next_link(self, cursor)
    }
}

fn parse_list_query(raw: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut map = query_object(raw)?;
    let limit = map.remove("limit");
    let mut f = Fields::new(map, &["provider", "scope", "status", "cursor"])?;
    let filter = ListFilter {
        provider: f.optional("provider", Provider::parse),
        scope: f.optional("scope", Scope::parse),
        status: f.optional("status", Status::parse),
    };
    let cursor = f.optional("cursor", text);
    let limit = match limit.as_ref().and_then(Value::as_str) {
        None => 1000,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                f.fail("limit", "must be a whole number from 1 to 1000");
                0
            }
        },
    };
    f.finish()?;
    Ok(ListQuery {
        filter,
        limit,
        cursor,
    })
}

fn next_link(q: &ListQuery, cursor: &str) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("limit", &q.limit.to_string());
    if let Some(p) = q.filter.provider {
        s.append_pair("provider", p.as_str());
    }
    if let Some(sc) = q.filter.scope {
        s.append_pair("scope", sc.as_str());
    }
    if let Some(st) = q.filter.status {
        s.append_pair("status", st.as_str());
    }
    s.append_pair("cursor", cursor);
    format!("<{BASE}?{}>; rel=\"next\"", s.finish())
}
