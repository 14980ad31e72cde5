package verify

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var (
	awsKeyID     = regexp.MustCompile(`\b((?:AKIA|ABIA|ACCA)[A-Z2-7]{16})\b`)
	awsSecretKey = regexp.MustCompile(`(?:^|[^A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`)
	stsAccount   = regexp.MustCompile(`<Account>([0-9]{12})</Account>`)
	stsArn       = regexp.MustCompile(`<Arn>([^<]{1,300})</Arn>`)
)

// awsVerifier calls STS GetCallerIdentity, which needs no permission and
// changes nothing, signed with SigV4 by the AWS SDK's signer. It needs the
// pair: the access key id and the secret key found in the same file.
type awsVerifier struct{}

func (awsVerifier) Provider() string { return "aws" }
func (awsVerifier) Rules() []string  { return []string{"aws-access-token", "aws-secret-access-key"} }

func (awsVerifier) pair(c Candidate) (id, secret string, err error) {
	if c.Rule == "aws-access-token" {
		id = c.Secret
		for _, s := range c.Related["aws-secret-access-key"] {
			secret = secretValue(s)
		}
		if secret == "" {
			if m := awsSecretKey.FindStringSubmatch(c.Context); m != nil {
				secret = m[1]
			}
		}
	} else {
		secret = secretValue(c.Secret)
		for _, s := range c.Related["aws-access-token"] {
			id = s
		}
		if id == "" {
			id = awsKeyID.FindString(c.Context)
		}
	}
	if id == "" || secret == "" {
		return "", "", fmt.Errorf("%w: AWS needs both the access key id and the secret key from one file", ErrNeedsContext)
	}
	return id, secret, nil
}

// secretValue strips a "NAME=" lead some rules keep in the secret.
func secretValue(s string) string {
	if i := strings.LastIndexAny(s, "=:"); i >= 0 && len(s)-i-1 >= 40 {
		s = s[i+1:]
	}
	return strings.Trim(strings.TrimSpace(s), `"'`)
}

func (v awsVerifier) Target(c Candidate, env Env) (string, error) {
	_, _, err := v.pair(c)
	return hostOf(env.Endpoint("aws", "https://sts.amazonaws.com")), err
}

func (v awsVerifier) Check(ctx context.Context, c Candidate, env Env) Result {
	id, secret, err := v.pair(c)
	if err != nil {
		return failed(err)
	}
	body := "Action=GetCallerIdentity&Version=2011-06-15"
	req, err := http.NewRequest(http.MethodPost, env.Endpoint("aws", "https://sts.amazonaws.com")+"/", strings.NewReader(body))
	if err != nil {
		return failed(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now().UTC()); err != nil {
		return failed(err)
	}
	a, err := do(ctx, env, req)
	if err != nil {
		return failed(err)
	}
	b := string(a.body)
	switch {
	case a.status == http.StatusOK:
		id := ""
		if m := stsAccount.FindStringSubmatch(b); m != nil {
			id = "account=" + m[1]
		}
		if m := stsArn.FindStringSubmatch(b); m != nil {
			id += " arn=" + m[1]
		}
		return Result{Status: Active, Identity: strings.TrimSpace(id)}
	case a.status == http.StatusForbidden && (strings.Contains(b, "InvalidClientTokenId") || strings.Contains(b, "SignatureDoesNotMatch")):
		return Result{Status: Inactive, Reason: "STS: invalid key id or secret"}
	default:
		return a.verdict(nil)
	}
}

var (
	saEmail    = regexp.MustCompile(`"client_email"\s*:\s*"([^"@\s]{1,100}@[^"\s]{1,200})"`)
	saTokenURI = regexp.MustCompile(`"token_uri"\s*:\s*"(https://[^"\s]{1,200})"`)
)

// googleVerifier signs a JWT with the service account's key and exchanges it
// at Google's token endpoint (the jwt-bearer grant, RFC 7523): a live key
// gets an access token (which is dropped), a deleted one invalid_grant.
type googleVerifier struct{}

func (googleVerifier) Provider() string { return "google" }
func (googleVerifier) Rules() []string  { return []string{"gcp-service-account-key"} }

func (googleVerifier) tokenURL(env Env) string {
	return env.Endpoint("google", "https://oauth2.googleapis.com") + "/token"
}

func (v googleVerifier) Target(c Candidate, env Env) (string, error) {
	if saEmail.FindStringSubmatch(c.Context) == nil {
		return "", fmt.Errorf("%w: no client_email next to the private key", ErrNeedsContext)
	}
	if m := saTokenURI.FindStringSubmatch(c.Context); m != nil && m[1] != "https://oauth2.googleapis.com/token" {
		return "", fmt.Errorf("%w: token_uri %s is not Google's documented endpoint", ErrHostNotAllowed, m[1])
	}
	return hostOf(v.tokenURL(env)), nil
}

func (v googleVerifier) Check(ctx context.Context, c Candidate, env Env) Result {
	if _, err := v.Target(c, env); err != nil {
		return failed(err)
	}
	email := saEmail.FindStringSubmatch(c.Context)[1]
	key, err := parseRSAKey(c.Secret)
	if err != nil {
		return failed(err)
	}
	now := time.Now()
	claims := map[string]any{"iss": email, "scope": "https://www.googleapis.com/auth/cloud-platform.read-only",
		"aud": "https://oauth2.googleapis.com/token", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	jwt, err := signJWT(key, claims)
	if err != nil {
		return failed(err)
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {jwt}}
	req, err := http.NewRequest(http.MethodPost, v.tokenURL(env), strings.NewReader(form.Encode()))
	if err != nil {
		return failed(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a, err := do(ctx, env, req)
	if err != nil {
		return failed(err)
	}
	switch {
	case a.status == http.StatusOK:
		return Result{Status: Active, Identity: "client_email=" + email}
	case a.status == http.StatusBadRequest && strings.Contains(string(a.body), "invalid_grant"):
		return Result{Status: Inactive, Reason: "invalid_grant"}
	default:
		return a.verdict(nil)
	}
}

// parseRSAKey reads a PEM private key whose newlines may still be escaped
// as in a JSON string ("\n").
func parseRSAKey(s string) (*rsa.PrivateKey, error) {
	s = strings.ReplaceAll(strings.ReplaceAll(s, `\r`, ""), `\n`, "\n")
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, fmt.Errorf("service-account key: not a PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, fmt.Errorf("service-account key: not an RSA key")
	}
	return x509.ParsePKCS1PrivateKey(blk.Bytes)
}

// signJWT makes a compact RS256 JWS (RFC 7515) of claims.
func signJWT(key *rsa.PrivateKey, claims map[string]any) (string, error) {
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hdr) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

var (
	azAccountName = regexp.MustCompile(`(?i)AccountName=([a-z0-9]{3,24})`)
	azAccountKey  = regexp.MustCompile(`(?i)AccountKey=([A-Za-z0-9+/]{86}==)`)
)

// azureStorageVerifier lists the account's containers (a read-only call)
// with a SharedKey signature made from the key; the account name comes from
// the same connection string or file.
type azureStorageVerifier struct{}

func (azureStorageVerifier) Provider() string { return "azure-storage" }
func (azureStorageVerifier) Rules() []string {
	return []string{"azure-storage-connection-string", "azure-storage-account-key", "azure-storage-account-key-identifiable"}
}

func (azureStorageVerifier) parts(c Candidate) (account, key string, err error) {
	text := c.Secret + "\n" + c.Context
	if m := azAccountName.FindStringSubmatch(text); m != nil {
		account = strings.ToLower(m[1])
	}
	if m := azAccountKey.FindStringSubmatch(c.Secret); m != nil {
		key = m[1]
	} else {
		key = secretValue(c.Secret)
	}
	if account == "" || key == "" {
		return "", "", fmt.Errorf("%w: no AccountName next to the storage key", ErrNeedsContext)
	}
	return account, key, nil
}

func (v azureStorageVerifier) base(account string, env Env) string {
	return env.Endpoint("azure-storage", "https://"+account+".blob.core.windows.net")
}

func (v azureStorageVerifier) Target(c Candidate, env Env) (string, error) {
	account, _, err := v.parts(c)
	if err != nil {
		return "", err
	}
	return hostOf(v.base(account, env)), nil
}

func (v azureStorageVerifier) Check(ctx context.Context, c Candidate, env Env) Result {
	account, key, err := v.parts(c)
	if err != nil {
		return failed(err)
	}
	req, err := http.NewRequest(http.MethodGet, v.base(account, env)+"/?comp=list", nil)
	if err != nil {
		return failed(err)
	}
	if err := SignAzureSharedKey(req, account, key, time.Now()); err != nil {
		return failed(err)
	}
	a, err := do(ctx, env, req)
	if err != nil {
		return failed(err)
	}
	return a.verdict(func(*answer) string { return "storage account " + account })
}

// SignAzureSharedKey signs a body-less request with the Azure Storage
// SharedKey scheme ("Authorize with Shared Key", version 2009-09-19 and
// later): an HMAC-SHA256, keyed by the decoded account key, of the verb,
// the twelve standard headers, the x-ms-* headers and the canonical resource.
func SignAzureSharedKey(req *http.Request, account, key string, now time.Time) error {
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return fmt.Errorf("azure storage key is not base64: %w", err)
	}
	req.Header.Set("x-ms-date", now.UTC().Format(http.TimeFormat))
	req.Header.Set("x-ms-version", "2021-08-06")
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte(AzureStringToSign(req, account)))
	req.Header.Set("Authorization", "SharedKey "+account+":"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return nil
}

// AzureStringToSign is the SharedKey string to sign for a body-less request.
func AzureStringToSign(req *http.Request, account string) string {
	var b strings.Builder
	b.WriteString(req.Method + "\n")
	// Content-Encoding, -Language, -Length, -MD5, -Type, Date,
	// If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range.
	b.WriteString(strings.Repeat("\n", 11))
	b.WriteString("x-ms-date:" + req.Header.Get("x-ms-date") + "\n")
	b.WriteString("x-ms-version:" + req.Header.Get("x-ms-version") + "\n")
	b.WriteString("/" + account + req.URL.Path)
	q := req.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, strings.ToLower(k))
	}
	sortStrings(keys)
	for _, k := range keys {
		b.WriteString("\n" + k + ":" + strings.Join(q[k], ","))
	}
	return b.String()
}
