//! What role each field needs, declared on the field and checked before anything executes.
//!
//! A field declares it with the `@requiresRole` directive:
//!
//! ```text
//! #[graphql(directive = requires_role::apply(Role::Admin))]
//! async fn create_api_key(&self, ctx: &Context<'_>, input: CreateApiKeyInput) -> Result<…, ApiError>
//! ```
//!
//! which also shows in the SDL (`createApiKey(…): … @requiresRole(role: ADMIN)`), so a reader
//! of docs/graphql.sdl sees who may call what. A field without it needs `EDITOR` when it is a
//! field of the mutation root and `VIEWER` anywhere else.
//!
//! The check walks the whole operation (fragments and nested fields included) and refuses it
//! with `FORBIDDEN` if any field it selects needs more than the caller's role, so a mutation
//! document that mixes allowed and forbidden fields changes nothing: GraphQL runs mutation
//! fields one after the other, and a guard on the second would come after the first ran.
//!
//! The table is read from the schema's own SDL once, when the schema is built.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, OperationType, Selection, SelectionSet, TypeKind, TypeSystemDefinition,
};
use async_graphql::Value;

use super::auth::Role;

pub use directive::requires_role;

#[allow(missing_docs)] // what the macro generates; the directive is documented below
mod directive {
    use super::Role;

    /// The `@requiresRole(role: …)` directive: the role a field needs (see [`super`]).
    #[async_graphql::TypeDirective(name = "requiresRole", location = "FieldDefinition")]
    pub fn requires_role(role: Role) {}
}

#[derive(Debug, Clone)]
struct FieldInfo {
    /// Declared with `@requiresRole`.
    role: Option<Role>,
    /// The named type it returns (lists and non-null stripped).
    ty: String,
}

/// The roles of a schema's fields.
#[derive(Debug, Clone, Default)]
pub struct RoleTable {
    query: String,
    mutation: Option<String>,
    subscription: Option<String>,
    fields: HashMap<(String, String), FieldInfo>,
}

/// The strongest role an operation needs, and the first field that needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The role.
    pub role: Role,
    /// The field (`Type.field`), if any field needs more than `VIEWER`.
    pub field: Option<String>,
}

impl RoleTable {
    /// The table of the schema whose SDL this is. An SDL that does not parse (it is the
    /// schema's own: it always does) gives an empty table, which makes every mutation field
    /// need `EDITOR`, nothing less.
    pub fn from_sdl(sdl: &str) -> RoleTable {
        let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
            tracing::error!("the schema's own SDL does not parse; only the default roles apply");
            return RoleTable {
                query: "Query".into(),
                mutation: Some("Mutation".into()),
                ..RoleTable::default()
            };
        };
        let mut table = RoleTable { query: "Query".into(), ..RoleTable::default() };
        let mut roots = None;
        for def in &doc.definitions {
            match def {
                TypeSystemDefinition::Schema(s) => roots = Some(s.node.clone()),
                TypeSystemDefinition::Type(t) => {
                    let fields = match &t.node.kind {
                        TypeKind::Object(o) => &o.fields,
                        TypeKind::Interface(i) => &i.fields,
                        _ => continue,
                    };
                    for f in fields {
                        let role = f
                            .node
                            .directives
                            .iter()
                            .find(|d| d.node.name.node == "requiresRole")
                            .and_then(|d| d.node.get_argument("role"))
                            .and_then(|v| match &v.node {
                                Value::Enum(name) => [Role::Viewer, Role::Editor, Role::Admin]
                                    .into_iter()
                                    .find(|r| r.graphql_name() == name.as_str()),
                                _ => None,
                            });
                        let mut ty = &f.node.ty.node;
                        while let BaseType::List(inner) = &ty.base {
                            ty = inner;
                        }
                        let BaseType::Named(name) = &ty.base else { continue }; // lists were stripped above
                        table.fields.insert(
                            (t.node.name.node.to_string(), f.node.name.node.to_string()),
                            FieldInfo { role, ty: name.to_string() },
                        );
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        match roots {
            Some(s) => {
                if let Some(q) = s.query {
                    table.query = q.node.to_string();
                }
                table.mutation = s.mutation.map(|m| m.node.to_string());
                table.subscription = s.subscription.map(|m| m.node.to_string());
            }
            // Without a schema block, the roots have their default names.
            None => {
                let has = |name: &str| table.fields.keys().any(|(t, _)| t == name);
                table.mutation = has("Mutation").then(|| "Mutation".to_owned());
                table.subscription = has("Subscription").then(|| "Subscription".to_owned());
            }
        }
        table
    }

    /// What the operation named `operation` (or the document's only one) needs. An operation
    /// that is not there needs nothing: execution refuses it later with its own error.
    pub fn need(&self, doc: &ExecutableDocument, operation: Option<&str>) -> Need {
        let op = match operation {
            Some(name) => doc.operations.iter().find(|(n, _)| n.is_some_and(|n| n.as_str() == name)),
            None => doc.operations.iter().next(),
        };
        let mut need = Need { role: Role::Viewer, field: None };
        let Some((_, op)) = op else { return need };
        let (root, default) = match op.node.ty {
            OperationType::Query => (Some(&self.query), Role::Viewer),
            OperationType::Mutation => (self.mutation.as_ref(), Role::Editor),
            OperationType::Subscription => (self.subscription.as_ref(), Role::Viewer),
        };
        let Some(root) = root else { return need };
        let mut walk = Walk { table: self, doc, fragments_seen: HashSet::new(), need: &mut need };
        walk.set(&op.node.selection_set.node, root, Some(default));
        need
    }
}

struct Walk<'a> {
    table: &'a RoleTable,
    doc: &'a ExecutableDocument,
    fragments_seen: HashSet<&'a str>,
    need: &'a mut Need,
}

impl<'a> Walk<'a> {
    /// `root_default` is the role of a field without the directive when `parent` is the root.
    fn set(&mut self, set: &'a SelectionSet, parent: &str, root_default: Option<Role>) {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    let name = f.node.name.node.as_str();
                    if name.starts_with("__") {
                        continue; // introspection: anyone with a key
                    }
                    let info = self.table.fields.get(&(parent.to_owned(), name.to_owned()));
                    let role = info.and_then(|i| i.role).or(root_default).unwrap_or(Role::Viewer);
                    if role > self.need.role {
                        *self.need = Need { role, field: Some(format!("{parent}.{name}")) };
                    }
                    if let Some(info) = info {
                        let ty = info.ty.clone();
                        self.set(&f.node.selection_set.node, &ty, None);
                    }
                }
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    // Each fragment once: its type condition fixes its parent, and a cycle
                    // (refused by validation, which comes after this check) must not loop.
                    if !self.fragments_seen.insert(name) {
                        continue;
                    }
                    if let Some(frag) = self.doc.fragments.get(name) {
                        let on = frag.node.type_condition.node.on.node.as_str();
                        self.set(&frag.node.selection_set.node, on, root_default.filter(|_| on == parent));
                    }
                }
                Selection::InlineFragment(i) => {
                    let on = i.node.type_condition.as_ref().map_or(parent, |c| c.node.on.node.as_str());
                    let on = on.to_owned();
                    self.set(&i.node.selection_set.node, &on, root_default.filter(|_| on == parent));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        type Query { whoami: String! keys: [ApiKey!]! @requiresRole(role: ADMIN) project: Project }
        type Project { name: String! secrets: [String!] @requiresRole(role: ADMIN) }
        type ApiKey { name: String! }
        type Mutation { updateRule: Int! createApiKey: ApiKey! @requiresRole(role: ADMIN) }
        type Subscription { ticks: Int! }
        schema { query: Query mutation: Mutation subscription: Subscription }
    "#;

    fn need(query: &str, op: Option<&str>) -> Need {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        RoleTable::from_sdl(SDL).need(&doc, op)
    }

    #[test]
    fn queries_need_viewer_mutations_editor_unless_a_field_says_more() {
        assert_eq!(need("{ whoami }", None).role, Role::Viewer);
        assert_eq!(need("subscription { ticks }", None).role, Role::Viewer);
        assert_eq!(
            need("mutation { updateRule }", None),
            Need { role: Role::Editor, field: Some("Mutation.updateRule".into()) }
        );
        assert_eq!(
            need("mutation { updateRule createApiKey { name } }", None),
            Need { role: Role::Admin, field: Some("Mutation.createApiKey".into()) }
        );
    }

    #[test]
    fn fragments_aliases_and_nested_fields_do_not_hide_a_need() {
        assert_eq!(need("{ project { secrets } }", None).role, Role::Admin);
        assert_eq!(need("{ p: project { ... on Project { s: secrets } } }", None).role, Role::Admin);
        assert_eq!(need("query { ...F } fragment F on Query { keys { name } }", None).role, Role::Admin);
        assert_eq!(need("mutation { ...M } fragment M on Mutation { updateRule }", None).role, Role::Editor);
        // A fragment cycle (refused later by validation) does not loop here.
        assert_eq!(
            need("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }", None).role,
            Role::Viewer
        );
        assert_eq!(need("{ __schema { types { name } } }", None).role, Role::Viewer);
    }

    #[test]
    fn the_named_operation_is_the_one_checked() {
        let doc = "query Q { whoami } mutation M { createApiKey { name } }";
        assert_eq!(need(doc, Some("Q")).role, Role::Viewer);
        assert_eq!(need(doc, Some("M")).role, Role::Admin);
    }
}
