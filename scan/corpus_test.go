package scan

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	mrand "math/rand/v2"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/stratascan/strata/internal/fixture"
	"github.com/stratascan/strata/internal/testtool"
)

// corpusGen makes random values in providers' formats (never real
// credentials) from one seeded generator.
type corpusGen struct{ r *mrand.Rand }

const (
	lowerHex = "0123456789abcdef"
	alnum62  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b64chars = alnum62 + "+/"
	urlChars = alnum62 + "_-"
)

func (g corpusGen) s(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

// gh is a GitHub/npm-style token with a valid CRC32 checksum: prefix_,
// 30 base62 characters, then their CRC32 in 6 base62 characters.
func (g corpusGen) gh(prefix string) string {
	body := g.s(30, alnum62)
	n := crc32.ChecksumIEEE([]byte(body))
	var cs [6]byte
	for i := 5; i >= 0; i-- {
		cs[i] = alnum62[n%62]
		n /= 62
	}
	return prefix + "_" + body + string(cs[:])
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// corpusCase is one file and the rules that must find something in it
// (none: a look-alike that must give no finding at all).
type corpusCase struct {
	path  string
	body  []byte
	rules []string
}

func corpusCases(t testing.TB) []corpusCase {
	g := corpusGen{mrand.New(mrand.NewPCG(20, 26))}
	pem := func(kind string) string {
		var b strings.Builder
		b.WriteString("-----BEGIN " + kind + "-----\n")
		for range 6 {
			b.WriteString(g.s(64, b64chars) + "\n")
		}
		b.WriteString(g.s(40, b64chars) + "==\n-----END " + kind + "-----\n")
		return b.String()
	}
	saKey := strings.ReplaceAll(pem("PRIVATE KEY"), "\n", `\n`)
	wheel := func(name, body string) []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.Create(name)
		w.Write([]byte(body))
		zw.Close()
		return b.Bytes()
	}
	ghToken := g.gh("ghp")
	k8sSecret := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\ntype: Opaque\ndata:\n  token: %s\n", b64(ghToken))
	dockerCfg := fmt.Sprintf(`{"auths":{"registry.internal.net":{"auth":"%s"}}}`, b64("deploy:"+g.s(16, alnum62)))
	k8sPull := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: %s\n", b64(dockerCfg))
	cases := []corpusCase{
		// --- where secrets really live
		{path: "root/.aws/credentials", rules: []string{"aws-access-token", "aws-secret-access-key"},
			body: []byte("[default]\naws_access_key_id = AKIA" + g.s(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") + "\naws_secret_access_key = " + g.s(40, b64chars) + "\n")},
		{path: "root/.ssh/id_rsa", rules: []string{"private-key"}, body: []byte(pem("RSA PRIVATE KEY"))},
		{path: "srv/app/gcp-sa.json", rules: []string{"private-key"}, // newlines escaped in the JSON string
			body: []byte(`{"type": "service_account", "project_id": "acme-prod", "private_key_id": "` + g.s(40, lowerHex) + `", "private_key": "` + saKey + `", "client_email": "ci@acme-prod.iam.gserviceaccount.com"}` + "\n")},
		{path: "root/.m2/settings.xml", rules: []string{"maven-settings-password"},
			body: []byte("<settings>\n  <servers>\n    <server>\n      <id>nexus</id>\n      <username>deploy</username>\n      <password>" + g.s(18, alnum62) + "</password>\n    </server>\n  </servers>\n</settings>\n")},
		{path: "root/.m2/settings-security.xml", rules: []string{"maven-settings-security-master"},
			body: []byte("<settingsSecurity>\n  <master>{" + g.s(44, b64chars) + "}</master>\n</settingsSecurity>\n")},
		{path: "srv/rails/config/master.key", rules: []string{"rails-master-key"}, body: []byte(g.s(32, lowerHex))},
		{path: "srv/symfony/.env.local", rules: []string{"symfony-app-secret"}, body: []byte("APP_ENV=prod\nAPP_SECRET=" + g.s(32, lowerHex) + "\n")},
		{path: "srv/laravel/.env", rules: []string{"laravel-app-key"}, body: []byte("APP_NAME=shop\nAPP_KEY=base64:" + g.s(43, b64chars) + "=\n")},
		{path: "srv/django/mysite/settings.py", rules: []string{"django-secret-key"}, body: []byte("DEBUG = False\nSECRET_KEY = '" + g.s(50, "abcdefghijklmnopqrstuvwxyz0123456789!#%^&*(-_=+)") + "'\n")},
		{path: "var/www/html/wp-config.php", rules: []string{"wordpress-auth-salt", "wordpress-db-password"},
			body: []byte("<?php\ndefine( 'DB_NAME', 'wordpress' );\ndefine( 'DB_PASSWORD', '" + g.s(20, alnum62) + "' );\ndefine( 'AUTH_KEY', '" + g.s(64, alnum62+"!#%^&*()") + "' );\n")},
		{path: "srv/app/config/database.yml", rules: []string{"database-uri-password"}, body: []byte("production:\n  url: postgres://app:" + g.s(20, alnum62) + "@db.internal:5432/app\n")},
		{path: "srv/app/mongo.conf", rules: []string{"database-uri-password"}, body: []byte("MONGO_URL=mongodb+srv://svc:" + g.s(16, alnum62) + "@cluster0.internal.net/prod\n")},
		{path: "etc/app/redis.env", rules: []string{"database-uri-password"}, body: []byte("REDIS_URL=redis://default:" + g.s(24, alnum62) + "@cache:6379/0\n")},
		{path: "etc/app/amqp.env", rules: []string{"database-uri-password"}, body: []byte("BROKER_URL=amqp://worker:" + g.s(18, alnum62) + "@rabbitmq:5672/%2F\n")},
		{path: "etc/app/mysql.ini", rules: []string{"database-uri-password"}, body: []byte("dsn = mysql://root:" + g.s(14, alnum62) + "@127.0.0.1:3306/shop\n")},
		{path: "home/ci/build/registry-auth.json", rules: []string{"docker-auths-json"}, body: []byte(dockerCfg + "\n")},
		{path: "srv/repo/.git/config", rules: []string{"git-credentials"}, body: []byte("[remote \"origin\"]\n\turl = https://ci-bot:" + g.s(24, alnum62) + "@gitlab.internal.net/acme/app.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n")},
		{path: "root/.config/gh/hosts.yml", rules: []string{"github-oauth"}, body: []byte("github.com:\n    oauth_token: " + g.gh("gho") + "\n    user: ci\n")},
		{path: "root/.npmrc", rules: []string{"npm-access-token"}, body: []byte("//registry.npmjs.org/:_authToken=" + g.gh("npm") + "\n")},
		{path: "root/.pypirc", rules: []string{"pypi-upload-token"}, body: []byte("[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmc" + g.s(120, urlChars) + "\n")},
		{path: "root/.composer/auth.json", rules: []string{"private-packagist-token"}, body: []byte(`{"http-basic": {"repo.packagist.com": {"username": "token", "password": "packagist_out_` + g.s(68, lowerHex) + `"}}}` + "\n")},
		{path: "srv/app/appsettings.json", rules: []string{"azure-storage-connection-string"},
			body: []byte(`{"Storage": "DefaultEndpointsProtocol=https;AccountName=stacme;AccountKey=` + g.s(86, b64chars) + `==;EndpointSuffix=core.windows.net"}` + "\n")},
		{path: "srv/app/backup.sh", rules: []string{"azure-sas-token"},
			body: []byte("azcopy copy /data 'https://stacme.blob.core.windows.net/backups?sv=2022-11-02&ss=b&srt=co&sp=rwl&se=2031-01-01T00:00:00Z&spr=https&sig=" + g.s(43, alnum62) + "%3D'\n")},
		{path: "srv/app/appconfig.env", rules: []string{"azure-app-configuration-connection-string"},
			body: []byte("APPCONFIG=Endpoint=https://appcs-acme.azconfig.io;Id=" + g.s(4, alnum62) + "-l0-s0:" + g.s(20, alnum62) + ";Secret=" + g.s(43, b64chars) + "=\n")},
		{path: "srv/ci/push.sh", rules: []string{"azure-container-registry-password"}, body: []byte("docker login acme.azurecr.io -u acme -p " + g.s(42, alnum62) + "+ACR" + g.s(6, alnum62) + "\n")},
		{path: "srv/ci/devops.env", rules: []string{"azure-devops-pat"}, body: []byte("AZURE_DEVOPS_EXT_PAT=" + g.s(76, alnum62) + "AZDO" + g.s(4, alnum62) + "\n")},
		{path: "srv/ai/.env", rules: []string{"azure-ai-services-key"}, body: []byte("AZURE_OPENAI_API_KEY=" + g.s(76, alnum62) + "ACOG" + g.s(4, alnum62) + "\n")},
		{path: "srv/app/entra.json", rules: []string{"azure-ad-client-secret"}, body: []byte(`{"clientSecret": "` + g.s(3, alnum62) + "8Q~" + g.s(34, alnum62) + `"}` + "\n")},
		{path: "srv/app/openai.env", rules: []string{"openai-api-key"}, body: []byte("OPENAI_API_KEY=sk-proj-" + g.s(74, urlChars) + "T3BlbkFJ" + g.s(74, urlChars) + "\n")},
		{path: "srv/app/anthropic.env", rules: []string{"anthropic-api-key"}, body: []byte("ANTHROPIC_API_KEY=sk-ant-api03-" + g.s(93, urlChars) + "AA\n")},
		{path: "root/.vault-token", rules: []string{"vault-service-token"}, body: []byte("hvs." + g.s(100, urlChars) + "\n")},
		{path: "root/.databrickscfg", rules: []string{"databricks-api-token"}, body: []byte("[DEFAULT]\nhost = https://adb-1.azuredatabricks.net\ntoken = dapi" + g.s(32, lowerHex) + "\n")},
		{path: "srv/shop/.env", rules: []string{"shopify-access-token"}, body: []byte("SHOPIFY_TOKEN=shpat_" + g.s(32, lowerHex) + "\n")},
		{path: "root/.config/doctl/config.yaml", rules: []string{"digitalocean-pat"}, body: []byte("access-token: dop_v1_" + g.s(64, lowerHex) + "\n")},
		{path: "srv/mail/.env", rules: []string{"sendgrid-api-token"}, body: []byte("SENDGRID_API_KEY=SG." + g.s(22, urlChars) + "." + g.s(43, urlChars) + "\n")},
		{path: "srv/sms/.env", rules: []string{"twilio-api-key", "twilio-auth-token"}, body: []byte("TWILIO_API_KEY=SK" + g.s(32, lowerHex) + "\nTWILIO_AUTH_TOKEN=" + g.s(32, lowerHex) + "\n")},
		{path: "root/.cache/huggingface/token", rules: []string{"huggingface-access-token"}, body: []byte("hf_" + g.s(34, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") + "\n")},
		{path: "srv/ci/gitlab.env", rules: []string{"gitlab-pat"}, body: []byte("GITLAB_TOKEN=glpat-" + g.s(20, urlChars) + "\n")},
		{path: "srv/app/notify.py", rules: []string{"slack-webhook-url"}, body: []byte(`WEBHOOK = "https://hooks.slack.com/services/T` + g.s(8, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + "/B" + g.s(8, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + "/" + g.s(24, alnum62) + `"` + "\n")},
		{path: "root/.jfrog/jfrog-cli.conf", rules: []string{"artifactory-reference-token"}, body: []byte(`{"accessToken": "cmVmd` + g.s(59, alnum62) + `"}` + "\n")},
		{path: "srv/ci/jira.env", rules: []string{"atlassian-api-token"}, body: []byte("JIRA_API_TOKEN=ATATT3" + g.s(186, urlChars) + "\n")},
		{path: "root/.netrc", rules: []string{"heroku-api-key-v2"}, body: []byte("machine api.heroku.com\n  login ci@acme.net\n  password HRKU-AA" + g.s(58, urlChars) + "\n")},
		{path: "root/.terraform.d/credentials.tfrc.json", rules: []string{"hashicorp-tf-api-token"},
			body: []byte(`{"credentials": {"app.terraform.io": {"token": "` + g.s(14, "abcdefghijklmnopqrstuvwxyz0123456789") + ".atlasv1." + g.s(67, "abcdefghijklmnopqrstuvwxyz0123456789") + `"}}}` + "\n")},
		{path: "srv/app/doppler.env", rules: []string{"doppler-api-token"}, body: []byte("DOPPLER_TOKEN=dp.pt." + g.s(43, alnum62) + "\n")},
		{path: "root/.pulumi/credentials.json", rules: []string{"pulumi-api-token"}, body: []byte(`{"accessTokens": {"https://api.pulumi.com": "pul-` + g.s(40, lowerHex) + `"}}` + "\n")},
		{path: "etc/grafana/provisioning/token.env", rules: []string{"grafana-service-account-token"}, body: []byte("GRAFANA_TOKEN=glsa_" + g.s(32, alnum62) + "_" + g.s(8, lowerHex) + "\n")},
		{path: "srv/app/sentry.env", rules: []string{"sentry-dsn-secret"}, body: []byte("SENTRY_DSN=https://" + g.s(32, lowerHex) + ":" + g.s(32, lowerHex) + "@sentry.internal.net/12\n")},
		{path: "srv/app/gh.env", rules: []string{"github-pat"}, body: []byte("GITHUB_TOKEN=" + g.gh("ghp") + "\n")},
		{path: "root/.cache/pip/wheels/ab/acme_settings-1.0-py3-none-any.whl", rules: []string{"stripe-access-token"},
			body: wheel("acme_settings/settings.py", "STRIPE_KEY = 'sk_live_"+g.s(40, alnum62)+"'\n")},
		// --- encoded: base64 (a Kubernetes Secret's data, a .dockerconfigjson, a token file), .tar.xz
		{path: "srv/k8s/secret.yaml", rules: []string{"github-pat"}, body: []byte(k8sSecret)},
		{path: "srv/k8s/regcred.yaml", rules: []string{"docker-auths-json"}, body: []byte(k8sPull)},
		{path: "srv/app/token.b64", rules: []string{"github-pat"}, body: []byte(b64("GITHUB_TOKEN="+g.gh("ghp")) + "\n")},
		{path: "var/backups/app-config.tar.xz", rules: []string{"laravel-app-key"},
			body: xzOf(t, fixture.Tar(t, []fixture.File{{Path: "app/.env", Body: []byte("APP_KEY=base64:" + g.s(43, b64chars) + "=\n")}}))},
		// --- look-alikes: nothing to find
		{path: "srv/docs/aws-example.ini", body: []byte("[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")},
		{path: "srv/app/.env.example", body: []byte("DB_PASSWORD=changeme\nAPI_KEY=${API_KEY}\nSECRET_TOKEN=<your-key>\nSTRIPE_SECRET=xxxxxxxxxxxxxxxx\nDATABASE_URL=postgres://app:${DB_PASSWORD}@db/app\nREDIS_URL=redis://:password@localhost:6379\n")},
		{path: "root/.ssh/id_ed25519.pub", body: []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + g.s(43, b64chars) + " ci@build\n")},
		{path: "etc/ssl/certs/acme.pem", body: []byte(pem("CERTIFICATE"))},
		{path: "srv/app/public.pem", body: []byte(pem("PUBLIC KEY"))},
		{path: "srv/app/package-lock.json", body: []byte(`{"packages": {"node_modules/left-pad": {"version": "1.3.0", "resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz", "integrity": "sha512-` + g.s(86, b64chars) + `=="}}}` + "\n")},
		{path: "srv/app/ids.txt", body: []byte("request_id = 3f6c2a1e-8d4b-4c7a-9e2f-1b5d7c9a0e3f\nsession uuid: 9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d\n")},
		{path: "srv/app/digests.txt", body: []byte("image: registry.internal.net/app@sha256:" + g.s(64, lowerHex) + "\ncommit " + g.s(40, lowerHex) + "\n")},
		{path: "srv/app/go.sum", body: []byte("github.com/acme/lib v1.2.3 h1:" + g.s(43, b64chars) + "=\n")},
		{path: "srv/app/config.py", body: []byte("import os\nSECRET_KEY = os.environ[\"SECRET_KEY\"]\nDATABASE_URL = os.getenv(\"DATABASE_URL\")\nAWS_SECRET_ACCESS_KEY = os.environ.get(\"AWS_SECRET_ACCESS_KEY\")\n")},
		{path: "srv/app/config.js", body: []byte("const key = process.env.OPENAI_API_KEY;\nconst token = process.env['GITHUB_TOKEN'];\n")},
		{path: "srv/app/words.txt", body: []byte("Sogho_" + g.s(36, alnum62) + " is not a token\n")},
		{path: "root/.m2/settings.xml.orig", body: []byte("<settings><servers><server><id>x</id><password>${env.NEXUS_PASSWORD}</password></server></servers></settings>\n")},
		{path: "var/www/html/wp-config-sample.php", body: []byte("<?php\ndefine( 'DB_PASSWORD', 'password_here' );\ndefine( 'AUTH_KEY',         'put your unique phrase here' );\n")},
	}
	return cases
}

// xzOf compresses b with the xz tool (xz-utils), as backups are made.
func xzOf(t testing.TB, b []byte) []byte {
	t.Helper()
	cmd := exec.Command(testtool.Require(t, "xz"), "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz: %v", err)
	}
	return out
}

// TestSecretCorpus builds an image with one file per secret kind, each
// where it really lives, plus look-alikes, and requires every kind to be
// found by its rule and the look-alikes to give nothing.
func TestSecretCorpus(t *testing.T) {
	cases := corpusCases(t)
	var files []fixture.File
	for _, c := range cases {
		files = append(files, fixture.File{Path: c.path, Body: c.body})
	}
	dir := t.TempDir()
	fixture.WriteLayout(t, dir, "corpus", fixture.Image{Layers: []fixture.Layer{{Files: files}}})
	res, err := Run(context.Background(), []Target{open(t, dir, "corpus", false)}, Options{Engine: engine(t)})
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string][]Finding{}
	for _, f := range res.Findings {
		p, _, _ := strings.Cut(f.Path, "!")
		byPath[p] = append(byPath[p], f)
	}
	kinds := map[string]bool{}
	for _, c := range cases {
		got := map[string]bool{}
		var ids []string
		for _, f := range byPath[c.path] {
			got[f.Rule] = true
			ids = append(ids, f.Rule+"("+f.Confidence+")")
			if f.Confidence == "" {
				t.Errorf("%s: %s finding without confidence", c.path, f.Rule)
			}
		}
		sort.Strings(ids)
		if len(c.rules) == 0 {
			if len(ids) > 0 {
				t.Errorf("look-alike %s: findings %v, want none", c.path, ids)
			}
			continue
		}
		for _, r := range c.rules {
			kinds[r] = true
			if got[r] {
				continue
			}
			t.Errorf("%s: rule %s did not fire (found %v)", c.path, r, ids)
		}
	}
	t.Logf("%d files, %d kinds, %d findings", len(cases), len(kinds), len(res.Findings))
}
