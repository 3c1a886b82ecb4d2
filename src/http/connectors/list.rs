//! `GET /connectors`: the query (filters, `limit`, `cursor`) and the `Link` to the next page.

use super::super::error::ApiError;
use super::super::fields::{Fields, query_object, request_fields, text};
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

request_fields!(struct ListQuerySent {
    provider,
    scope,
    status,
    cursor,
    limit
});

fn parse_list_query(raw: Option<&str>) -> Result<ListQuery, ApiError> {
    let q = ListQuerySent::read(query_object(raw)?)?;
    let mut f = Fields::new();
    let filter = ListFilter {
        provider: f.optional(&q.provider, Provider::parse),
        scope: f.optional(&q.scope, Scope::parse),
        status: f.optional(&q.status, Status::parse),
    };
    let cursor = f.optional(&q.cursor, text);
    let limit = f.integer_text(&q.limit, 1..=1000).unwrap_or(1000);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceError;

    fn refused(query: &str) -> Vec<String> {
        match ListQuery::parse(Some(query)) {
            Err(ApiError::Service(ServiceError::Validation(fields))) => {
                fields.into_iter().map(|f| f.field).collect()
            }
            other => panic!("not a validation error: {:?}", other.map(|q| q.limit)),
        }
    }

    #[test]
    fn no_query_lists_a_thousand_without_filters() {
        let q = ListQuery::parse(None).expect("a query");
        assert_eq!(
            (q.limit, q.filter, q.cursor),
            (1000, ListFilter::default(), None)
        );
    }

    #[test]
    fn filters_and_limit_parse_and_come_back_in_the_next_link() {
        let q = ListQuery::parse(Some("provider=gcs&status=failed&scope=export&limit=5"))
            .expect("a query");
        assert_eq!(q.filter.provider, Some(Provider::Gcs));
        assert_eq!(q.filter.status, Some(Status::Failed));
        assert_eq!(q.filter.scope, Some(Scope::Export));
        assert_eq!(
            q.next_link("c1/+="),
            format!(
                "<{BASE}?limit=5&provider=gcs&scope=export&status=failed&cursor=c1%2F%2B%3D>; rel=\"next\""
            )
        );
    }

    #[test]
    fn a_limit_out_of_range_an_unknown_word_or_parameter_is_named() {
        assert_eq!(refused("limit=0"), ["limit"]);
        assert_eq!(refused("limit=1001"), ["limit"]);
        assert_eq!(refused("limit=ten"), ["limit"]);
        assert_eq!(refused("provider=dropbox"), ["provider"]);
        let mut unknown = refused("colour=red");
        unknown.sort();
        assert_eq!(unknown, ["colour"]);
    }
}
