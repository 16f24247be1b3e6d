#!/bin/sh
# Regenerates Tests/PHPSerializationTests/Fixtures with php-cli's own session code.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec php -n -d session.save_handler=files "$here/gen-php-session-fixtures.php" "$here/../Tests/PHPSerializationTests/Fixtures"
