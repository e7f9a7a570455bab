-- Run by MariaDB on every start (--init-file): the `seamline` account, which may create databases.
-- '%' is any client address; the server itself listens on 127.0.0.1 only.
CREATE USER IF NOT EXISTS 'seamline'@'%' IDENTIFIED BY 'seamline';
GRANT ALL PRIVILEGES ON *.* TO 'seamline'@'%' WITH GRANT OPTION;
