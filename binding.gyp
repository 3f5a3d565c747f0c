# binding.gyp: the one native target, tsgi.node (C++17, Node-API 8, no C++
# exceptions). The parser is the addon's own (native/strict.cc); of llhttp
# it takes only llhttp.h, for the method table, found by
# scripts/find-llhttp.cjs, which fails the build with the install command
# when llhttp is missing. llhttp's code is compiled only into the fuzz
# harness (scripts/fuzz.mjs), where it checks the parser's framing.
#
# The node executable exports its own llhttp under the same symbol names:
# tsgi.node calls no llhttp function, and everything is compiled with hidden
# visibility and linked with -Bsymbolic, so calls bind inside tsgi.node.
{
  'targets': [
    {
      'target_name': 'tsgi',
      'dependencies': [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api",
      ],
      'sources': [
        'native/addon.cc',
        'native/bridge.cc',
        'native/bridge_respond.cc',
        'native/bridge_events.cc',
        'native/bridge_options.cc',
        'native/bridge_queue.cc',
        'native/connection.cc',
        'native/connection_respond.cc',
        'native/head_check.cc',
        'native/parser.cc',
        'native/proxy_protocol.cc',
        'native/server.cc',
        'native/sockets.cc',
        'native/timers.cc',
        'native/strict.cc',
        'native/writer.cc',
      ],
      'include_dirs': [
        '<!(node scripts/find-llhttp.cjs include)',
      ],
      'defines': [
        'NAPI_VERSION=8',
      ],
      'cflags': [ '-O3', '-Wall', '-Wextra', '-fno-exceptions', '-fvisibility=hidden' ],
      'cflags!': [ '-O2' ],
      'cflags_c': [ '-Wno-unused-parameter' ],
      'cflags_cc': [ '-std=gnu++17', '-fno-exceptions', '-fno-rtti', '-fvisibility-inlines-hidden' ],
      'conditions': [
        [ 'OS=="linux"', { 'ldflags': [ '-Wl,-Bsymbolic' ] } ],
      ],
      'cflags_cc!': [ '-std=gnu++14', '-std=gnu++1y', '-fexceptions' ],
      'xcode_settings': {
        'GCC_ENABLE_CPP_EXCEPTIONS': 'NO',
        'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
        'GCC_OPTIMIZATION_LEVEL': '3',
        'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
        'WARNING_CFLAGS': [ '-Wall', '-Wextra' ],
      },
      'msvs_settings': {
        'VCCLCompilerTool': { 'ExceptionHandling': 0, 'AdditionalOptions': [ '/std:c++17' ] },
      },
    },
  ],
}
