package cli

// helpText is what `help` prints.
const helpText = `Commands (quote values with spaces: set k "hello world"):
  set k v [ttl] [flags]          store (also add, replace, append, prepend)
  cas k v unique [ttl] [flags]   store if the cas unique (from gets) still matches
  get k [k ...]                  read; gets also shows the cas unique
  gat ttl k [k ...]              read and set a new ttl
  delete k                       remove
  incr k [n] / decr k [n]        add to / subtract from a number (n defaults to 1)
  touch k ttl                    set a new ttl
  flush [delay]                  drop every item (flush_all)
  stats [group]                  server statistics
  version                        server version
  show                           cluster members and their requests
  raw <line>                     send a protocol line as it is; a storage
                                 command's data block is the next line
  help, exit, quit
Any other line is sent to the server as a raw protocol line.
`
