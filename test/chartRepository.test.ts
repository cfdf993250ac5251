/**
 * The stack's own Helm environment (live/chartRepository.ts): what the Kubernetes provider finds the
 * Cilium chart in, and reads an imported release's chart back from.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { parse } from "yaml";
import { chartReference, prepareHelmEnvironment, repositoryName } from "../live/chartRepository";

describe("the stack's Helm environment", () => {
  let server: http.Server;
  let url: string;
  let dir: string;
  let hits = 0;
  const INDEX = "apiVersion: v1\nentries:\n  cilium:\n    - name: cilium\n      version: 1.16.6\n";

  before(async () => {
    server = http.createServer((req, res) => {
      hits++;
      if (req.url === "/charts/index.yaml") res.writeHead(200, { "content-type": "text/yaml" }).end(INDEX);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/charts`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "unchain-helmenv-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("names one repository after its host and path, and the chart as <repository>/cilium", () => {
    expect(repositoryName("https://helm.cilium.io/")).to.equal("helm.cilium.io");
    expect(chartReference("https://helm.cilium.io")).to.equal("helm.cilium.io/cilium");
    expect(repositoryName("https://charts.example.com/platform/mirrors/cilium")).to.equal("charts.example.com_platform_mirrors_cilium");
    const long = repositoryName(`https://charts.example.com/${"x".repeat(80)}`);
    expect(long.length).to.be.at.most(48);
    expect(long).to.not.equal(repositoryName(`https://charts.example.com/${"x".repeat(81)}`));
  });

  it("writes repositories.yaml and the index where helm repo add/update would, per stack", async () => {
    const env = await prepareHelmEnvironment(dir, "prod-eu-west-1", url);
    expect(env.stale).to.equal(undefined);
    expect(env.repositoryConfig).to.equal(path.join(dir, ".unchain/helm/prod-eu-west-1/repositories.yaml"));
    const config = parse(fs.readFileSync(env.repositoryConfig, "utf8")) as { repositories: Array<{ name: string; url: string }>; generated: string };
    expect(config.repositories).to.deep.equal([{ name: repositoryName(url), url }]);
    expect(Number.isNaN(Date.parse(config.generated)), "Helm refuses a repositories.yaml without a valid `generated`").to.equal(false);
    expect(fs.readFileSync(env.index, "utf8")).to.equal(INDEX);
    expect(path.basename(env.index)).to.equal(`${repositoryName(url)}-index.yaml`);
  });

  it("uses the index fetched before when the repository does not answer, and says so", async () => {
    await prepareHelmEnvironment(dir, "s", url);
    const gone = url.replace("/charts", "/moved");
    const config = path.join(dir, ".unchain/helm/s/repositories.yaml");
    // The same repository, unreachable: the cached index serves.
    const cachedIndex = path.join(dir, ".unchain/helm/s/cache", `${repositoryName(url)}-index.yaml`);
    fs.copyFileSync(cachedIndex, path.join(dir, ".unchain/helm/s/cache", `${repositoryName(gone)}-index.yaml`));
    const env = await prepareHelmEnvironment(dir, "s", gone);
    expect(env.stale).to.match(/cannot fetch .*\/moved\/index\.yaml: HTTP 404/);
    expect((parse(fs.readFileSync(config, "utf8")) as { repositories: Array<{ url: string }> }).repositories[0].url).to.equal(gone);
  });

  it("refuses a repository it cannot read, naming the key, and an OCI registry", async () => {
    const failure = (u: string) => prepareHelmEnvironment(dir, "s", u).then(() => "", (e: Error) => e.message);
    expect(await failure(url.replace("/charts", "/nothing"))).to.match(/cannot fetch .*\/nothing\/index\.yaml: HTTP 404\. The Cilium chart repository \(unchain:ciliumRepository\) must answer/);
    fs.rmSync(path.join(dir, ".unchain"), { recursive: true, force: true });
    const before = hits;
    expect(await failure("oci://registry.example.com/cilium")).to.match(/OCI registry; .*set unchain:ciliumRepository/);
    expect(hits, "nothing fetched").to.equal(before);
    expect(fs.existsSync(path.join(dir, ".unchain")), "nothing written").to.equal(false);
  });
});
