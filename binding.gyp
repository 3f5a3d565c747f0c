# binding.gyp: the one native target, tsgi.node (C++17, Node-API 8, no C++
# exceptions). llhttp is found by scripts/find-llhttp.cjs: compiled from the
# system's C sources, or linked from the system library; the script fails
# the build with the install command when llhttp is missing.
#
# The node executable exports its own llhttp (another version, another
# llhttp_settings_t layout) under the same symbol names. Our llhttp must
# never be interposed by it: everything is compiled with hidden visibility
# and linked with -Bsymbolic, so calls bind inside tsgi.node.
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
        'native/connection.cc',
        'native/parser.cc',
        'native/proxy_protocol.cc',
        'native/server.cc',
        'native/sockets.cc',
        'native/timers.cc',
        'native/strict.cc',
        'native/writer.cc',
        '<!@(node scripts/find-llhttp.cjs sources)',
      ],
      'include_dirs': [
        '<!(node scripts/find-llhttp.cjs include)',
      ],
      'libraries': [
        '<!@(node scripts/find-llhttp.cjs libraries)',
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
