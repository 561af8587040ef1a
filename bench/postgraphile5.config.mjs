// PostGraphile 5's configuration for the benchmark (copied by bench/run.py next to its
// node_modules in bench/.node/v5/, so the imports resolve there). The same features as
// the PostGraphile 4 peer: the Amber preset (connections with first/orderBy), the
// connection-filter plugin (for the open-opportunity filter), no default mutations, no
// GraphiQL, no explain; the database and the port come from the environment.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

export default {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  disablePlugins: ["PgMutationCreatePlugin", "PgMutationUpdateDeletePlugin"],
  pgServices: [makePgService({ connectionString: process.env.BENCH_PG_URL, schemas: ["public"] })],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.BENCH_PORT),
    graphqlPath: "/graphql",
    graphiql: false,
    watch: false,
  },
  grafast: { explain: false },
};
