// Starts GraphiQL on the mockplane control plane: queries and mutations go to POST /graphql,
// subscriptions to /graphql/ws over graphql-transport-ws (the client bundled in GraphiQL).
// The API key travels in the Headers tab: GraphiQL sends those headers with every HTTP call
// and as the connection_init payload of every subscription, which is where the server reads
// it. The headers are kept in sessionStorage, so a reload keeps the key and closing the tab
// forgets it.
(function () {
  'use strict';
  var stored = 'mockplane.graphiql.headers';
  var here = new URL(window.location.href);
  var ws = new URL('/graphql/ws', here);
  ws.protocol = here.protocol === 'https:' ? 'wss:' : 'ws:';
  var headers = window.sessionStorage.getItem(stored) ||
    '{\n  "Authorization": "Bearer <your API key>"\n}';
  // GraphiQL fetches the schema before its Headers tab is up, so that first request would go
  // without the key: give the fetcher the kept headers too (the tab's, once up, win).
  var kept = {};
  try { kept = JSON.parse(headers); } catch (e) { kept = {}; }
  var fetcher = GraphiQL.createFetcher({
    url: new URL('/graphql', here).href,
    subscriptionUrl: ws.href,
    headers: kept,
    wsConnectionParams: kept,
    enableIncrementalDelivery: false
  });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    headers: headers,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: 'headers',
    onEditHeaders: function (text) { window.sessionStorage.setItem(stored, text); },
    defaultQuery:
      '# The mockplane admin API.\n' +
      '#\n' +
      '# Put your API key in the Headers tab below, then re-fetch the schema\n' +
      '# (Shift-Ctrl-R) so that the docs and completion know it. The key is\n' +
      '# sent with every request and when a subscription connects.\n' +
      '\n' +
      '{\n  whoami {\n    keyName\n    role\n  }\n}\n'
  }));
})();
