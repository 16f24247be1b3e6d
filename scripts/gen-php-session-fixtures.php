<?php
/**
 * Generates the PHPSerialization test fixtures with PHP's own session code.
 *
 * For every case this script points session.save_path at a fresh temporary
 * directory, selects the `php` serialize handler, starts a session with a
 * fixed id, fills $_SESSION, calls session_write_close() and copies the
 * resulting sess_<id> file (byte for byte) into the Fixtures folder as
 * <case>.sess. Next to it, it writes <case>.json describing the expected
 * decoded values in a typed form (see describe() below), so the Swift tests
 * can compare every key, including raw binary strings (base64) and exact
 * float bit patterns (hex of the big-endian IEEE-754 double).
 *
 * Usage: php scripts/gen-php-session-fixtures.php [output-dir]
 *        (default: Tests/PHPSerializationTests/Fixtures next to this script)
 *
 * csrf_private_key / session_database_uuid / authPass are random, so the
 * output changes on every run; the tests only rely on the sidecars.
 */

declare(strict_types=1);

error_reporting(E_ALL);
ini_set('display_errors', 'stderr');
ini_set('serialize_precision', '-1');

if (PHP_SAPI !== 'cli') {
    fwrite(STDERR, "run with php-cli\n");
    exit(1);
}

$outDir = $argv[1] ?? (__DIR__ . '/../Tests/PHPSerializationTests/Fixtures');
if (!is_dir($outDir) && !mkdir($outDir, 0755, true)) {
    fwrite(STDERR, "cannot create $outDir\n");
    exit(1);
}
$outDir = realpath($outDir);

// ---- classes used by the stress case -------------------------------------

class FixtureUser
{
    public $name = 'public-prop';
    protected $role = 'protected-prop';
    private $secret = "private\0prop";
    public $nested = ['k' => [1, 2, 3]];
}

enum FixtureSuit
{
    case Hearts;
}

// Serializable is deprecated since 8.1; declare it via eval with deprecations
// muted so the script stays warning-free. It produces the `C:` format.
$prev = error_reporting(E_ALL & ~E_DEPRECATED);
eval('class FixtureCustom implements Serializable {
    public $data;
    public function __construct($data) { $this->data = $data; }
    public function serialize(): ?string { return serialize($this->data); }
    public function unserialize(string $s): void { $this->data = unserialize($s); }
}');
error_reporting($prev);

// ---- typed description of a PHP value (JSON sidecar) ---------------------

function describeKey(int|string $k): array
{
    return is_int($k)
        ? ['t' => 'int', 'v' => (string)$k]
        : ['t' => 'string', 'b64' => base64_encode($k)];
}

function describe(mixed $v, int $depth = 0): array
{
    if ($depth > 200) {
        throw new RuntimeException('recursive value in fixture');
    }
    if ($v === null) {
        return ['t' => 'null'];
    }
    if (is_bool($v)) {
        return ['t' => 'bool', 'v' => $v];
    }
    if (is_int($v)) {
        return ['t' => 'int', 'v' => (string)$v];
    }
    if (is_float($v)) {
        return ['t' => 'double', 'hex' => bin2hex(pack('E', $v)), 'repr' => var_export($v, true)];
    }
    if (is_string($v)) {
        return ['t' => 'string', 'b64' => base64_encode($v)];
    }
    if (is_array($v)) {
        $entries = [];
        foreach ($v as $k => $item) {
            $entries[] = ['k' => describeKey($k), 'v' => describe($item, $depth + 1)];
        }
        return ['t' => 'array', 'entries' => $entries];
    }
    if ($v instanceof UnitEnum) {
        return ['t' => 'enum', 'v' => get_class($v) . ':' . $v->name];
    }
    if ($v instanceof Serializable && !method_exists($v, '__serialize')) {
        return ['t' => 'custom', 'class' => get_class($v), 'b64' => base64_encode($v->serialize())];
    }
    if (is_object($v)) {
        // Property names exactly as serialize() writes them ("\0*\0prop",
        // "\0Class\0prop"); object property names are always strings.
        $entries = [];
        foreach (get_mangled_object_vars($v) as $k => $item) {
            $entries[] = ['k' => describeKey((string)$k), 'v' => describe($item, $depth + 1)];
        }
        return ['t' => 'object', 'class' => get_class($v), 'entries' => $entries];
    }
    throw new RuntimeException('unsupported type ' . get_debug_type($v));
}

// ---- session writing -----------------------------------------------------

function writeCase(string $outDir, string $case, string $sessionName, string $id, string $layout, callable $fill, array $checks): void
{
    $tmp = sys_get_temp_dir() . '/php-sess-fixture-' . bin2hex(random_bytes(8));
    if (!mkdir($tmp, 0700)) {
        throw new RuntimeException("mkdir $tmp");
    }
    ini_set('session.save_handler', 'files');
    ini_set('session.save_path', $tmp);
    ini_set('session.serialize_handler', 'php');
    ini_set('session.use_cookies', '0');
    ini_set('session.use_only_cookies', '0');
    ini_set('session.use_strict_mode', '0');
    ini_set('session.cache_limiter', '');
    session_name($sessionName);
    session_id($id);
    if (!session_start()) {
        throw new RuntimeException("session_start failed for $case");
    }
    $_SESSION = [];
    $fill();
    // Describe what PHP holds *before* writing; the file must decode to this.
    $entries = [];
    foreach ($_SESSION as $name => $value) {
        $entries[] = ['name' => (string)$name, 'v' => describe($value)];
    }
    if (!session_write_close()) {
        throw new RuntimeException("session_write_close failed for $case");
    }
    $src = "$tmp/sess_$id";
    $bytes = file_get_contents($src);
    if ($bytes === false || $bytes === '') {
        throw new RuntimeException("no session file for $case");
    }
    // Sanity: PHP's own decoder must read the file back to the same values.
    session_id($id);
    session_start(['read_and_close' => true]);
    $again = [];
    foreach ($_SESSION as $name => $value) {
        $again[] = ['name' => (string)$name, 'v' => describe($value)];
    }
    if (json_encode($again) !== json_encode($entries)) {
        throw new RuntimeException("PHP round trip mismatch for $case");
    }
    $_SESSION = [];

    if (!copy($src, "$outDir/$case.sess")) {
        throw new RuntimeException("copy failed for $case");
    }
    unlink($src);
    rmdir($tmp);

    $sidecar = [
        'case' => $case,
        'php_version' => PHP_VERSION,
        'session_name' => $sessionName,
        'session_id' => $id,
        'source_file' => "sess_$id",
        'byte_length' => strlen($bytes),
        'sha256' => hash('sha256', $bytes),
        'layout' => $layout,
        'checks' => $checks,
        'entries' => $entries,
    ];
    $json = json_encode($sidecar, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
    file_put_contents("$outDir/$case.json", $json . "\n");
    fwrite(STDERR, sprintf("%-24s %5d bytes  sess_%s\n", $case, strlen($bytes), $id));
}

// Fixed ids keep file names stable between runs.
$ids = [
    'A' => 'Qm3x-Zr8,Kp2LwT9vB0nYc7Hd1Fg6Js4Ua5Xe,Ri-Ot2Mk8V',    // 48 chars [0-9a-zA-Z,-] (PHP < 8.4, sid_bits_per_character=6)
    'B' => '5f0c2b9e8d7a41c3b6e2f1a09d8c7b6e',                   // 32 lowercase hex (PHP 8.4 style)
    'C' => 'P0rtalPat1ent-Seven,ABCDEFGHIJKLMNOPQRSTUVWXYZ01',   // 48 chars
    'D' => '0123456789abcdef0123456789abcdef',                   // 32 hex
    'E' => 'Stress-Case,0123456789abcdefghijklmnopqrstuvwxyz',   // 48 chars
];
foreach ($ids as $k => $id) {
    if (!preg_match('/^[a-zA-Z0-9,-]{22,250}$/', $id)) {
        throw new RuntimeException("bad id for $k");
    }
    $expectedLength = in_array($k, ['B', 'D'], true) ? 32 : 48;
    if (strlen($id) !== $expectedLength || ($expectedLength === 32 && !preg_match('/^[0-9a-f]{32}$/', $id))) {
        throw new RuntimeException("id for $k must be $expectedLength chars");
    }
}

$authPass = password_hash('pass', PASSWORD_BCRYPT);
$csrfCore = random_bytes(32);
$trackerUuid = random_bytes(16);
$tabs = [
    ['option_id' => 'cal', 'title' => 'Calendar', 'notes' => 'interface/main/main_info.php'],
    ['option_id' => 'msg', 'title' => 'Message Inbox', 'notes' => 'interface/main/messages/messages.php?form_active=1'],
];
$tokenMain = bin2hex(random_bytes(20));

$coreKeys = [
    'site_id' => 'default',
    'language_choice' => '1',
    'language_direction' => 'ltr',
    'authUser' => 'admin',
    'authPass' => $authPass,
    'authUserID' => '1',
    'authProvider' => 'Default',
    'userauthorized' => '1',
    'csrf_private_key' => $csrfCore,
    'session_database_uuid' => $trackerUuid,
    'encounter' => '',
    'default_open_tabs' => $tabs,
    'token_main_php' => $tokenMain,
];
$coreChecks = [
    'authUser' => 'admin',
    'authPass' => $authPass,
    'authUserID' => 1,
    'authProvider' => 'Default',
    'csrf_private_key_b64' => base64_encode($csrfCore),
];
$meta = ['u' => 1782910000, 'c' => 1782909990, 'l' => 0];

// (A) core user, OpenEMR 8.2 namespaced layout.
writeCase($outDir, 'A-core-namespaced', 'OpenEMR', $ids['A'], 'namespaced', function () use ($coreKeys, $meta) {
    $_SESSION['OpenEMR'] = ['site_id' => $coreKeys['site_id'], 'language_choice' => $coreKeys['language_choice'],
        'language_direction' => 'ltr', 'authUser' => $coreKeys['authUser'], 'authPass' => $coreKeys['authPass'],
        'authUserID' => '1', 'authProvider' => 'Default', 'userauthorized' => '1',
        'enable_database_connection_pooling' => false,
        'csrf_private_key' => $coreKeys['csrf_private_key'], 'session_database_uuid' => $coreKeys['session_database_uuid'],
        'encounter' => '', 'default_open_tabs' => $coreKeys['default_open_tabs'], 'token_main_php' => $coreKeys['token_main_php']];
    $_SESSION['_sf2_meta'] = $meta;
}, $coreChecks + ['metaLastUsed' => $meta['u'], 'metaCreated' => $meta['c']]);

// (B) the same user, flat layout (OpenEMR 6.0 - 8.0).
writeCase($outDir, 'B-core-flat', 'OpenEMR', $ids['B'], 'flat', function () use ($coreKeys) {
    foreach ($coreKeys as $k => $v) {
        $_SESSION[$k] = $v;
    }
}, $coreChecks);

// (C) portal patient, 8.2 namespaced under PortalOpenEMR, pid int 7.
$csrfPortal = random_bytes(32);
$portalKeys = [
    'site_id' => 'default', 'language_choice' => 1, 'portal_username' => 'jdoe1', 'portal_login_username' => 'jdoe',
    'csrf_private_key' => $csrfPortal, 'pid' => 7, 'patient_portal_onsite_two' => 1, 'providerName' => 'Jane Smith',
    'providerUName' => 'jsmith', 'sessionUser' => '-patient-', 'providerId' => 4, 'ptName' => 'John Doe',
    'authUser' => 'portal-user',
];
writeCase($outDir, 'C-portal-namespaced', 'PortalOpenEMR', $ids['C'], 'namespaced', function () use ($portalKeys, $meta) {
    $_SESSION['PortalOpenEMR'] = $portalKeys;
    $_SESSION['_sf2_meta'] = $meta;
}, ['pid' => 7, 'authUser' => 'portal-user', 'patient_portal_onsite_two' => 1,
    'csrf_private_key_b64' => base64_encode($csrfPortal), 'metaLastUsed' => $meta['u'], 'metaCreated' => $meta['c']]);

// (D) portal patient, flat (6.x - 7.x), pid "7" as a string.
writeCase($outDir, 'D-portal-flat', 'PortalOpenEMR', $ids['D'], 'flat', function () use ($csrfPortal) {
    $_SESSION['site_id'] = 'default';
    $_SESSION['language_choice'] = 1;
    $_SESSION['portal_username'] = 'jdoe1';
    $_SESSION['portal_login_username'] = 'jdoe';
    $_SESSION['csrf_private_key'] = $csrfPortal;
    $_SESSION['pid'] = '7';
    $_SESSION['patient_portal_onsite_two'] = 1;
    $_SESSION['providerName'] = 'Jane Smith';
    $_SESSION['providerUName'] = 'jsmith';
    $_SESSION['sessionUser'] = '-patient-';
    $_SESSION['providerId'] = '4';
    $_SESSION['ptName'] = 'John Doe';
}, ['pid' => 7, 'patient_portal_onsite_two' => 1, 'csrf_private_key_b64' => base64_encode($csrfPortal)]);

// (E) stress case.
writeCase($outDir, 'E-stress', 'OpenEMR', $ids['E'], 'flat', function () {
    $deep = 'bottom';
    for ($i = 0; $i < 20; $i++) {
        $deep = ['level' => 20 - $i, 'child' => $deep];
    }
    $std = new stdClass();
    $std->alpha = 'a';
    $std->{'7'} = 'numeric property name';
    $std->list = [1, 2];
    $shared = ['shared' => 'array value', 'n' => 42];
    $refTarget = 'referenced string';
    $user = new FixtureUser();

    $_SESSION['unicode'] = "pässwörd – Ωμέγα – 日本語 – 👩‍⚕️🩺";
    $_SESSION['emoji'] = '🦄';
    $_SESSION['empty'] = '';
    $_SESSION['floats'] = [1.5, -0.0, 0.0, 1e25, -1e-7, 0.1, INF, -INF, NAN, PHP_FLOAT_MAX, 5e-324, 3.0];
    $_SESSION['bools'] = [true, false];
    $_SESSION['null'] = null;
    $_SESSION['int_min'] = PHP_INT_MIN;
    $_SESSION['int_max'] = PHP_INT_MAX;
    $_SESSION['zero'] = 0;
    $_SESSION['deep'] = $deep;
    $_SESSION['mixed_keys'] = [0 => 'zero', 'one' => 1, 5 => 'five', '7' => 'numeric string key', '07' => 'leading zero',
        '-3' => 'negative', '-0' => 'minus zero', '9223372036854775808' => 'too big for int', '' => 'empty key',
        PHP_INT_MIN => 'min key', 'x y' => 'space'];
    $_SESSION['std'] = $std;
    $_SESSION['user'] = $user;
    $_SESSION['std_again'] = $std;                 // r: (same object)
    // C: payload; it holds no back-references so the sidecar can reproduce it standalone,
    // but its inner values still take slots and shift the numbers of later references.
    $_SESSION['custom'] = new FixtureCustom(['payload', 9, ['in' => 1.5]]);
    $_SESSION['after_custom_std'] = $std;          // r: after a C: payload
    $_SESSION['enum'] = FixtureSuit::Hearts;       // E:
    $_SESSION['ref_a'] = &$refTarget;              // R:
    $_SESSION['ref_b'] = &$refTarget;
    $_SESSION['arr_copy_1'] = $shared;
    $_SESSION['arr_copy_2'] = $shared;
    $_SESSION['nested_refs'] = ['x' => &$refTarget, 'y' => $std, 'z' => [&$refTarget]];
    $_SESSION['punct'] = 'a|b;c"d}e{f:g\\h' . "\n" . 'i|s:3:"x";';
    $_SESSION['binary'] = "\0\x01\x02\xff\xfe\0|\"};\0";
    $_SESSION['invalid_utf8'] = "\xc3\x28\xa0\xa1";
    $_SESSION['numeric_string'] = '12345';
    $_SESSION['neg_numeric_string'] = '-17';
    $_SESSION['not_numeric'] = '12a';
    $_SESSION['float_string'] = '1.5';
    $_SESSION['OpenEMR_not_array'] = 'x';
    $_SESSION['OpenEMR'] = 'not an array';         // must NOT trigger the namespaced layout
}, ['numeric_string' => 12345, 'neg_numeric_string' => -17]);

fwrite(STDERR, "fixtures written to $outDir\n");
