<?php
// progress.php: the PHP-FPM peer: GET /php/api/v2/training/jobs/{job_id}/progress, read with pgsql.

declare(strict_types=1);

// The spec's 17 fields, in the spec's order (the document keeps this order).
const PROGRESS_QUERY = 'SELECT job_id, percentage, current_step, step_number, total_steps,
        step_percentage, step_details, started_at, updated_at, estimated_completion,
        current_iteration, total_iterations, best_score, current_score, best_params,
        is_complete, error_message
    FROM training_progress WHERE job_id = $1';

function send_json(int $status, array $document): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($document, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
}

function send_error(int $status, string $code, string $message): void
{
    send_json($status, ['error' => $code, 'message' => $message]);
}

// The API's rules for an id (docs/API.md): what is wrong with it, or null.
function job_id_problem(string $id): ?string
{
    if ($id === '') {
        return 'job_id is empty';
    }
    if (strlen($id) > 255) {
        return 'job_id is longer than 255 bytes';
    }
    if (preg_match('//u', $id) !== 1) {
        return 'job_id is not valid UTF-8';
    }
    if (preg_match('/[\x{00}-\x{1F}\x{7F}-\x{9F}]/u', $id) === 1) {
        return 'job_id contains a control character';
    }
    if ($id === '.' || $id === '..') {
        return 'job_id is a dot-segment';
    }
    return null;
}

// pgsql hands every column over as text (or null); these give each its JSON type.

function as_int(?string $text): ?int
{
    return $text === null ? null : (int) $text;
}

// NaN and the infinities, which a FLOAT column can hold, have no JSON form.
function as_number(?string $text): ?float
{
    if ($text === null || !is_numeric($text)) {
        return null;
    }
    $x = (float) $text;
    return is_finite($x) ? $x : null;
}

// An object, not an array, so that an empty {} stays an object.  (PHP reads
// an integer beyond 64 bits as a float; the benchmark's rows have none.)
function as_object(?string $jsonb): ?object
{
    return $jsonb === null ? null : json_decode($jsonb, false, 512, JSON_THROW_ON_ERROR);
}

// RFC 3339 in UTC: whole seconds without a fraction, otherwise six digits.
function as_rfc3339(?string $timestamptz): ?string
{
    if ($timestamptz === null) {
        return null;
    }
    $t = (new DateTimeImmutable($timestamptz))->setTimezone(new DateTimeZone('UTC'));
    return $t->format($t->format('u') === '000000' ? 'Y-m-d\TH:i:s\Z' : 'Y-m-d\TH:i:s.u\Z');
}

// REQUEST_URI is the raw path: split it before decoding, so that an encoded
// "/" stays inside the id.
$path = explode('?', $_SERVER['REQUEST_URI'] ?? '', 2)[0];
if (preg_match('#^/php/api/v2/training/jobs/([^/]*)/progress$#', $path, $match) !== 1) {
    send_error(404, 'unknown_path', 'no endpoint at this path');
    return;
}
$method = $_SERVER['REQUEST_METHOD'] ?? '';
if ($method !== 'GET' && $method !== 'HEAD') {
    header('Allow: GET, HEAD');
    send_error(405, 'method_not_allowed', 'this endpoint takes GET and HEAD');
    return;
}
$job_id = rawurldecode($match[1]);
$problem = job_id_problem($job_id);
if ($problem !== null) {
    send_error(400, 'invalid_job_id', $problem);
    return;
}

// One connection per child, kept from request to request: the usual way
// to run pgsql under PHP-FPM (up.sh puts the URL in the pool's environment).
$db = @pg_pconnect((string) getenv('PEERS_DB_URL'));
$result = $db === false ? false : @pg_query_params($db, PROGRESS_QUERY, [$job_id]);
if ($result === false) {
    send_error(503, 'database_unavailable', 'the database cannot be reached');
    return;
}
$row = pg_fetch_assoc($result);
if ($row === false) {
    send_error(404, 'not_found', 'no training job has the id "' . $job_id . '"');
    return;
}

send_json(200, [
    'job_id' => $row['job_id'],
    'percentage' => as_number($row['percentage']),
    'current_step' => $row['current_step'],
    'step_number' => as_int($row['step_number']),
    'total_steps' => as_int($row['total_steps']),
    'step_percentage' => as_number($row['step_percentage']),
    'step_details' => as_object($row['step_details']),
    'started_at' => as_rfc3339($row['started_at']),
    'updated_at' => as_rfc3339($row['updated_at']),
    'estimated_completion' => as_rfc3339($row['estimated_completion']),
    'current_iteration' => as_int($row['current_iteration']),
    'total_iterations' => as_int($row['total_iterations']),
    'best_score' => as_number($row['best_score']),
    'current_score' => as_number($row['current_score']),
    'best_params' => as_object($row['best_params']),
    'is_complete' => $row['is_complete'] === 't',
    'error_message' => $row['error_message'],
]);
