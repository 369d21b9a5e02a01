// Validates AsyncAPI documents with the official parser (@asyncapi/parser): prints every diagnostic as
// one JSON line and exits 1 if any is an error. Usage: node validate-asyncapi.mjs doc.json [...]
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const path of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(path, "utf8"));
  for (const d of diagnostics) {
    console.log(JSON.stringify({ file: path, severity: DiagnosticSeverity[d.severity], code: d.code,
                                 message: d.message, path: d.path.join("/") }));
  }
  if (!document || diagnostics.some((d) => d.severity === DiagnosticSeverity.Error)) failed = true;
}
process.exit(failed ? 1 : 0);
